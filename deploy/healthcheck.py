#!/usr/bin/env python3
"""Container health check for the vmt-dask image (Docker HEALTHCHECK; stdlib only).

One image plays several roles, told apart by ``VMT_ROLE`` (the Helm chart sets
it): the scheduler answers ``/health`` on its dashboard port, a worker on its
own dashboard port, the notebook ``/api`` on the Jupyter port.  The study Job is
a batch process and is healthy while it runs.  ``VMT_HEALTH_URL`` overrides the
probed URL.  Exit status 0 = healthy, 1 = unhealthy (what Docker expects).
"""
from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

#: Default probe per role; ``None`` means nothing to probe.
URLS = {
    "scheduler": "http://127.0.0.1:8787/health",
    "worker": "http://127.0.0.1:8789/health",
    "notebook": "http://127.0.0.1:8888/api",
    "study": None,
}


def probe(url: str, *, timeout: float = 5.0) -> bool:
    """True when ``url`` answers HTTP 200 within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback URL)
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    url = argv[0] if argv else os.environ.get("VMT_HEALTH_URL")
    if not url:
        role = os.environ.get("VMT_ROLE", "scheduler")
        if role not in URLS:
            print(f"healthcheck: unknown VMT_ROLE {role!r}; expected one of {sorted(URLS)}", file=sys.stderr)
            return 1
        url = URLS[role]
        if url is None:
            return 0
    if probe(url):
        return 0
    print(f"healthcheck: {url} did not answer 200", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""Credentials never leave the process: redact them from anything shown or logged.

Store URLs may carry secrets (``s3://KEY:SECRET@bucket/x.zarr``, ``https://user:pw@host``,
``?token=...`` / ``&X-Amz-Signature=...`` query parameters).  :func:`redact` replaces the
secret parts with ``***`` in any text; the study page, the JSON API, the logs and the CLI's
messages pass store URLs and error texts through it.
"""
from __future__ import annotations

import re

__all__ = ["redact", "MASK"]

MASK = "***"

# scheme://[user[:password]@]host  -> scheme://***@host   (user names can be access keys)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/@\s?#]+)@")
# ?key=value / &key=value for keys that name a secret (case-insensitive, substring match)
_SECRET_PARAM = re.compile(
    r"(?P<lead>[?&;](?P<key>[^=&;#\s]*(?:token|secret|password|passwd|pwd|signature|credential|"
    r"session|api[-_]?key|access[-_]?key|sig|auth)[^=&;#\s]*)=)(?P<value>[^&;#\s]*)",
    re.IGNORECASE,
)


def redact(text: object) -> str:
    """``text`` as a string with URL credentials and secret query values replaced by ``***``.

    Parameters
    ----------
    text : object
        Anything; non-strings are converted with ``str``.

    Returns
    -------
    str

    Examples
    --------
    >>> redact("s3://AKIA:s3cr3t@bucket/study.zarr")
    's3://***@bucket/study.zarr'
    >>> redact("https://h/x.zarr?X-Amz-Signature=abc&region=eu")
    'https://h/x.zarr?X-Amz-Signature=***&region=eu'
    """
    s = str(text)
    s = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", s)
    return _SECRET_PARAM.sub(lambda m: f"{m.group('lead')}{MASK}", s)

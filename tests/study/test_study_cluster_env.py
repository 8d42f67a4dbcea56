"""The embedded study cluster's worker environment (session 8 review): the user's MALLOC_*
choices win (environment read when the cluster is made, or dask config), distributed's own
default left in the environment by an earlier nanny does not count as the user's, and
``os.environ`` is the caller's again once the cluster is up."""
from __future__ import annotations

import os

import dask
import pytest

from vmt_dask.study.coordinator import WORKER_MALLOC_ENV, make_cluster, worker_spawn_env

SPAWN = "distributed.nanny.pre-spawn-environ"
TRIM, MMAP = "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"


def test_spawn_env_defaults_to_the_study_settings():
    env = worker_spawn_env({})
    assert {k: env[k] for k in WORKER_MALLOC_ENV} == WORKER_MALLOC_ENV
    assert env.get("OMP_NUM_THREADS") == "1"  # distributed's other pre-spawn variables stay


def test_the_users_environment_wins_but_not_distributeds_leftover():
    env = worker_spawn_env({TRIM: "123456"})
    assert env[TRIM] == "123456" and env[MMAP] == WORKER_MALLOC_ENV[MMAP]
    # 65536 is what a nanny started earlier in this process leaves behind: not the user's
    env = worker_spawn_env({TRIM: "65536", MMAP: "1048576"})
    assert env[TRIM] == WORKER_MALLOC_ENV[TRIM] and env[MMAP] == "1048576"


def test_the_users_dask_config_wins():
    with dask.config.set({SPAWN: {TRIM: 777, "FOO_VAR": "bar", MMAP: None}}):
        env = worker_spawn_env({})
    assert env[TRIM] == "777" and env["FOO_VAR"] == "bar"
    assert MMAP not in env  # None: the user unset it
    # the environment beats the config (as distributed's nanny reads them)
    with dask.config.set({SPAWN: {TRIM: 777}}):
        assert worker_spawn_env({TRIM: "5000"})[TRIM] == "5000"


def _start_env():
    with open("/proc/self/environ", "rb") as f:
        raw = f.read().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_cluster_gets_the_users_values_and_leaves_environ_as_it_was(monkeypatch):
    from distributed import Client

    monkeypatch.setenv(TRIM, "123456")
    monkeypatch.delenv(MMAP, raising=False)
    with dask.config.set({f"{SPAWN}.{MMAP}": 4 << 20}):
        before = dict(os.environ)
        with make_cluster(1) as cluster:
            after = dict(os.environ)
            with Client(cluster) as client:
                start = next(iter(client.run(_start_env).values()))
    assert after == before  # nothing of the nanny's (MALLOC_*, PYTHONHASHSEED, ...) left here
    assert start[TRIM] == "123456" and start[MMAP] == str(4 << 20)


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])

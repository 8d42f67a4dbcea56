"""Store-level faults: every kind of damage to a record or a volume reads as absent, never as data.

Each case damages one piece of a small store (local directory and fsspec memory://), then
checks that (a) readers report it absent/damaged (KeyError / None), never zeros or a
partial dict, (b) :func:`verify_store` names it, and (c) a writer can replace it without
``overwrite`` (the study's repair path: regenerate from the seed).
"""
import os

import numpy as np
import pytest

from vmt_dask import storage as S
from vmt_dask.errors import InputError
from vmt_dask.model import CALIBRATED, realize
from vmt_dask.storage.integrity import DamagedError

TH = CALIBRATED["BM01"]


@pytest.fixture(scope="module")
def labels():
    return realize(TH, (16, 16, 20), seed=5, voxel_size=0.5)


def _store(kind, tmp_path, request):
    if kind == "local":
        return tmp_path / "s.zarr"
    return f"memory://faults-{request.node.name.replace('[', '-').replace(']', '')}"


def _write(s, labels, key="v"):
    S.write_volume(s, key, labels, theta=TH, seed=5, voxel_size=0.5, chunks=(8, 8, 8))


def _fs_path(s, rel):
    loc = S.resolve(s)
    return loc.fs, loc.path(rel)


def _delete(s, rel):
    fs, p = _fs_path(s, rel)
    fs.rm_file(p)


def _put(s, rel, data: bytes):
    fs, p = _fs_path(s, rel)
    fs.pipe_file(p, data)


def _get(s, rel) -> bytes:
    fs, p = _fs_path(s, rel)
    return fs.cat_file(p)


CHUNK = "volumes/v/c/1/0/1"
DAMAGE = {
    "chunk deleted": lambda s: _delete(s, CHUNK),
    "chunk truncated": lambda s: _put(s, CHUNK, _get(s, CHUNK)[:-7]),
    "chunk emptied": lambda s: _put(s, CHUNK, b""),
    "chunk altered in place": lambda s: _put(s, CHUNK, bytes([_get(s, CHUNK)[0] ^ 1]) + _get(s, CHUNK)[1:]),
    "metadata edited": lambda s: _put(s, "volumes/v/zarr.json",
                                      _get(s, "volumes/v/zarr.json").replace(b'"seed": 5', b'"seed": 6')),
    "manifest deleted": lambda s: _delete(s, "volumes/v/vmt-manifest.json"),
    "manifest empty": lambda s: _put(s, "volumes/v/vmt-manifest.json", b""),
    "manifest {}": lambda s: _put(s, "volumes/v/vmt-manifest.json", b"{}"),
    "manifest truncated": lambda s: _put(s, "volumes/v/vmt-manifest.json",
                                         _get(s, "volumes/v/vmt-manifest.json")[:100]),
}
SHALLOW_MISSES = {"chunk altered in place"}  # same size: only the digest (read / deep verify) finds it


@pytest.mark.parametrize("kind", ["local", "memory"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_volume_reads_as_absent(tmp_path, request, labels, kind, damage):
    s = _store(kind, tmp_path, request)
    _write(s, labels)
    _write(s, labels, key="other")
    DAMAGE[damage](s)
    with pytest.raises(KeyError):      # DamagedError is a KeyError: absent to every caller
        S.read_volume(s, "v")
    if damage not in SHALLOW_MISSES:
        assert not S.volume_exists(s, "v")
        assert "v" not in S.list_volumes(s)
    rep = S.verify_store(s, deep=True)
    assert "v" in rep.absent and not rep.ok and rep.volumes_ok == ["other"], rep.lines()
    # repair: a damaged volume is replaced without --overwrite (regenerated from its seed)
    _write(s, labels)
    arr, _ = S.read_volume(s, "v")
    assert np.array_equal(arr, labels)
    assert S.verify_store(s).ok


def test_lazy_read_of_deleted_chunk_raises_not_zeros(tmp_path, labels):
    s = tmp_path / "s.zarr"
    _write(s, labels)
    arr = S.open_volume(s, "v")
    os.unlink(s / CHUNK)
    assert np.array_equal(arr[:8, :8, :8], labels[:8, :8, :8])   # intact chunks still read
    with pytest.raises(DamagedError, match="c/1/0/1 is missing"):
        arr[8:16, :8, 8:16]


RECORD = "records/describe/v-AM.json"
RECORD_DAMAGE = {
    "empty": lambda s: _put(s, RECORD, b""),
    "{}": lambda s: _put(s, RECORD, b"{}"),
    "truncated": lambda s: _put(s, RECORD, _get(s, RECORD)[:-15]),
    "unsealed (written before checksums)": lambda s: _put(s, RECORD, b'{"volume_fraction": 0.5}'),
    "value edited": lambda s: _put(s, RECORD, _get(s, RECORD).replace(b"0.5", b"0.6")),
    "binary garbage": lambda s: _put(s, RECORD, b"\x00\xff\xfe" * 10),
}


@pytest.mark.parametrize("kind", ["local", "memory"])
@pytest.mark.parametrize("damage", list(RECORD_DAMAGE))
def test_damaged_record_reads_as_absent(tmp_path, request, kind, damage):
    s = _store(kind, tmp_path, request)
    S.write_record(s, RECORD, {"volume_fraction": 0.5, "key": "v"})
    S.write_record(s, "records/describe/v-SE.json", {"volume_fraction": 0.25})
    RECORD_DAMAGE[damage](s)
    assert S.read_record(s, RECORD) is None
    rec, problem = S.read_records(s)
    assert RECORD not in rec and RECORD in problem and "records/describe/v-SE.json" in rec
    rep = S.verify_store(s)
    assert list(rep.records_damaged) == [RECORD] and rep.records_ok == ["records/describe/v-SE.json"]
    from vmt_dask.study.layout import StoreFS

    fs = StoreFS(s)
    assert fs.read_record(RECORD) is None
    with pytest.raises(DamagedError):
        fs.read_json(RECORD)
    S.write_record(s, RECORD, {"volume_fraction": 0.5})   # rewrite = repair
    assert S.read_record(s, RECORD) == {"volume_fraction": 0.5}


def test_verify_report_structure(tmp_path, labels):
    s = tmp_path / "s.zarr"
    _write(s, labels)
    _write(s, labels, key="w")
    S.write_record(s, RECORD, {"a": 1})
    os.unlink(s / CHUNK)
    (s / "records" / "describe" / "x.json").write_bytes(b"{}")
    os.makedirs(s / "volumes" / ".tmp-0123abcd-w")
    rep = S.verify_store(s)
    d = rep.to_dict()
    assert d["ok"] is False
    assert d["volumes"] == {"ok": 1, "damaged": {"v": ["c/1/0/1 is missing"]}, "incomplete": []}
    assert d["records"] == {"ok": 1, "damaged": {"records/describe/x.json": "records/describe/x.json: no checksum"}}
    assert d["leftovers"] == ["volumes/.tmp-0123abcd-w"]
    assert any("damaged volume v" in line for line in rep.lines())
    with pytest.raises(InputError, match="no such store"):
        S.verify_store(tmp_path / "nope")

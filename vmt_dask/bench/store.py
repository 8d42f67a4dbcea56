"""store: cost of integrity on a label volume (write, verified read vs plain zarr read, checks).

For one model realization (default BM01, 401^3, the paper's grid) stored with the default
128^3 chunks in a local store, prints the median of ``--repeat`` runs of:

* ``write_volume`` (numpy input; digests recorded while writing);
* ``read_volume`` (every chunk's bytes checked against the manifest) next to a plain
  ``zarr.open_array(...)[...]`` of the same array (no checks): the difference is the cost of
  verification on read;
* ``check_volume`` shallow (manifest, metadata, sizes: no data read) and deep (every chunk
  hashed);
* physical references measured in the same run: SHA-256 of the compressed bytes held in
  memory, and reading the chunk files (page cache) without decoding.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time


def add_arguments(p) -> None:
    p.add_argument("--size", type=int, default=401, help="edge of the cubic volume (default 401)")
    p.add_argument("--preset", default="BM01")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--dir", default=None, help="directory for the temporary store (default: system temp)")
    p.add_argument("--tile", type=int, default=None,
                   help="build the volume by tiling a realization of this edge (light: for a shared machine; "
                        "chunks then repeat, so stored size and timings are of the same kind but not identical)")


def _paired(f_ref, f, repeat: int) -> tuple[float, float, float]:
    """Medians of alternating runs of ``f_ref`` and ``f`` and the median of their per-pair
    ratio (alternating keeps a drifting machine load out of the ratio)."""
    a, b = [], []
    for _ in range(repeat):
        for f_, out in ((f_ref, a), (f, b)):
            t0 = time.perf_counter()
            f_()
            out.append(time.perf_counter() - t0)
    return statistics.median(a), statistics.median(b), statistics.median(y / x for x, y in zip(a, b))


def _median(f, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(args) -> int:
    import hashlib

    import numpy as np
    import zarr

    from ..model import CALIBRATED, realize
    from ..storage import check_volume, read_volume, resolve, write_volume

    n = args.size
    if args.tile:
        t = realize(CALIBRATED[args.preset], (args.tile,) * 3, seed=1, voxel_size=0.2)
        reps = -(-n // args.tile)
        labels = np.ascontiguousarray(np.tile(t, (reps, reps, reps))[:n, :n, :n])
    else:
        labels = realize(CALIBRATED[args.preset], (n, n, n), seed=1, voxel_size=0.2)
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        store = os.path.join(d, "bench.zarr")
        write_volume(store, "warm", labels[:64, :64, :64], theta=CALIBRATED[args.preset], seed=1, voxel_size=0.2)
        write = lambda: write_volume(store, "v", labels, theta=CALIBRATED[args.preset], seed=1,  # noqa: E731
                                     voxel_size=0.2, overwrite=True)
        write()
        loc = resolve(store)

        def plain_write():
            g = zarr.open_group(os.path.join(d, "plain.zarr"), mode="w")
            a = g.create_array("v", shape=labels.shape, chunks=(128, 128, 128), dtype=np.uint8,
                               compressors=zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"))
            a[...] = labels

        t_plain_write, t_write, r_write = _paired(plain_write, write, max(3, args.repeat // 2))
        vdir = os.path.join(store, "volumes", "v")
        chunk_files = [os.path.join(r, f) for r, _, fs in os.walk(vdir) for f in fs
                       if os.path.relpath(os.path.join(r, f), vdir).startswith("c")]
        blobs = [open(p, "rb").read() for p in chunk_files]
        stored = sum(len(b) for b in blobs)
        assert np.array_equal(read_volume(store, "v")[0], labels)
        plain = lambda: zarr.open_array(loc.zarr_store(read_only=True), path="volumes/v", mode="r")[...]  # noqa: E731
        t_plain, t_read, r_read = _paired(plain, lambda: read_volume(store, "v"), args.repeat)
        t_shallow = _median(lambda: check_volume(store, "v"), args.repeat)
        t_deep = _median(lambda: check_volume(store, "v", deep=True), args.repeat)
        t_sha = _median(lambda: [hashlib.sha256(b).digest() for b in blobs], args.repeat)
        t_cat = _median(lambda: [open(p, "rb").read() for p in chunk_files], args.repeat)
    mb = stored / 1e6
    rows = [
        ("plain zarr write (no digests, in place)", t_plain_write, "reference"),
        ("write_volume (numpy, digests recorded)", t_write, f"x{r_write:.2f} vs plain (median of paired ratios)"),
        ("plain zarr read (no checks)", t_plain, "reference"),
        ("read_volume (every chunk verified)", t_read, f"x{r_read:.2f} vs plain (median of paired ratios)"),
        ("check_volume shallow (no data read)", t_shallow, ""),
        ("check_volume deep (every chunk hashed)", t_deep, ""),
        ("SHA-256 of the compressed bytes", t_sha, f"{mb / t_sha:.0f} MB/s"),
        ("read chunk files, no decoding", t_cat, f"{mb / t_cat:.0f} MB/s"),
    ]
    how = f"tiled from a {args.tile}^3 realization" if args.tile else "one realization"
    print(f"store: {args.preset} {n}^3 uint8 ({how}) {n ** 3 / 1e6:.1f} MB raw, {len(chunk_files)} chunks of 128^3, "
          f"{mb:.1f} MB stored; median of {args.repeat}")
    for name, t, note in rows:
        print(f"  {name:<42s} {t * 1e3:9.1f} ms  {note}")
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average at the end)")
    return 0

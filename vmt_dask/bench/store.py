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

Then, for the study's small grids (``--small-sizes``, default 48 and 64: one chunk per
volume), the per-volume ``write_volume`` of a realization as a study task does it (no fsync):
the direct writer (zarr's files written without zarr's store round trips) next to the same
call through zarr (the path before the direct writer) and a plain zarr array write (no
manifest, no digests), paired medians of ``--small-repeat`` writes, wall and CPU ms.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from ._measure import positive_int


def _existing_dir(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an existing directory")
    return text


def add_arguments(p) -> None:
    p.add_argument("--size", type=positive_int, default=401, help="edge of the cubic volume (default 401)")
    from ..domain import PRESET_NAMES

    p.add_argument("--preset", default="BM01", choices=PRESET_NAMES,
                   help="preset whose realization is written (default BM01)")
    p.add_argument("--repeat", type=positive_int, default=5,
                   help="timed repeats of each read/check/hash measurement of the large volume "
                        "(writes: half as many, at least 3), each paired with its plain-file "
                        "reference; medians are printed (default 5)")
    p.add_argument("--dir", default=None, type=_existing_dir, help="directory for the temporary store (default: system temp)")
    p.add_argument("--small-sizes", default="48,64", help="study grid edges for the per-volume write ('' skips)")
    p.add_argument("--small-repeat", type=positive_int, default=30,
                   help="timed writes per small study grid (default 30)")
    p.add_argument("--tile", type=positive_int, default=None,
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
    if args.small_sizes:
        _small(args, [int(x) for x in args.small_sizes.split(",")])
    return 0


def _small(args, sizes) -> None:
    """Per-volume write of small study volumes: direct writer vs through zarr vs plain zarr."""
    import numpy as np
    import zarr

    from ..model import CALIBRATED, realize
    from ..storage import volumes as V

    th = CALIBRATED[args.preset]
    print(f"small volumes (the study's grids, one chunk each, durable=False as a study task writes them; median of "
          f"{args.small_repeat}, wall and CPU ms per volume):")
    for n in sizes:
        labels = realize(th, (n, n, n), seed=1, voxel_size=0.4, generator="fast", threads=1)
        with tempfile.TemporaryDirectory(dir=args.dir) as d:
            store = os.path.join(d, "s.zarr")
            i = [0]

            def direct():
                i[0] += 1
                V.write_volume(store, f"d{i[0]}", labels, theta=th, seed=1, voxel_size=0.4, chunks=(n, n, n),
                               durable=False)

            def via_zarr():
                real = V._array_document
                V._array_document = lambda *a: None  # the zarr path (before the direct writer)
                try:
                    i[0] += 1
                    V.write_volume(store, f"z{i[0]}", labels, theta=th, seed=1, voxel_size=0.4, chunks=(n, n, n),
                                   durable=False)
                finally:
                    V._array_document = real

            def plain():
                i[0] += 1
                a = zarr.create_array(os.path.join(d, f"p{i[0]}.zarr"), shape=labels.shape, chunks=(n, n, n),
                                      dtype=np.uint8, compressors=V._compressor())
                a[...] = labels

            for f in (direct, via_zarr, plain):  # first calls: imports, codec set-up
                f()
            res = {f.__name__: ([], []) for f in (direct, via_zarr, plain)}
            for _ in range(args.small_repeat):
                for f in (direct, via_zarr, plain):  # interleaved: drifting load hits all three alike
                    t0, c0 = time.perf_counter(), time.process_time()
                    f()
                    res[f.__name__][0].append(time.perf_counter() - t0)
                    res[f.__name__][1].append(time.process_time() - c0)
        med = {k: (statistics.median(w) * 1e3, statistics.median(c) * 1e3) for k, (w, c) in res.items()}
        for name, label in (("plain", "plain zarr array write (reference)"), ("via_zarr", "write_volume through zarr"),
                            ("direct", "write_volume direct (study path)")):
            w, c = med[name]
            print(f"  {n}^3 {label:<38s} {w:7.2f} ms wall {c:7.2f} ms CPU  {n ** 3 / w / 1e3:7.1f} Mvoxel/s")
        print(f"  {n}^3 direct / through zarr: x{med['direct'][0] / med['via_zarr'][0]:.2f} wall, "
              f"x{med['direct'][1] / med['via_zarr'][1]:.2f} CPU; load {os.getloadavg()[0]:.1f}")

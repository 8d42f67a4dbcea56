"""Argument parsing helpers shared by subcommands (turn bad values into InputError)."""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time

from ..domain import AXES as _AXIS_NAMES
from ..domain import DEFAULT_VOXEL_SIZE_UM
from ..errors import InputError
from ..resources import MAX_VOXELS

__all__ = ["JobProgress", "parse_size", "parse_theta", "parse_axis", "parse_axes_arg", "json_value", "AXES",
           "add_input_arguments", "load_input", "LoadedInput", "resolve_phases",
           "print_table", "parse_int", "check_output_path", "theta_values",
           "check_store_exists"]

AXES = {name: i for i, name in enumerate(_AXIS_NAMES)}



def check_output_path(path, option: str) -> None:
    """Refuse an output file whose directory does not exist (or is not a directory), before any work.

    ``-`` (standard output) and URLs (``scheme://...``) are not checked here.  The message
    names the option, the path and the missing directory.
    """
    import os

    text = str(path)
    if text == "-" or "://" in text:
        return
    if not text.strip():
        raise InputError(f"{option} '': empty path")
    if os.path.isdir(text):
        raise InputError(f"{option} {text!r} is a directory; give a file path")
    parent = os.path.dirname(os.path.abspath(os.path.expanduser(text)))
    if not os.path.exists(parent):
        raise InputError(f"{option} {text!r}: directory {os.path.dirname(text) or parent!r} does not exist; "
                         "create it first")
    if not os.path.isdir(parent):
        raise InputError(f"{option} {text!r}: {os.path.dirname(text) or parent!r} is not a directory")


def check_store_exists(store) -> None:
    """A local store path that is not there, refused before the readers' imports (zarr, xarray:
    1-3 s); URLs are left to the reader.  Same words as :func:`vmt_dask.report.io.load_results`."""
    import os

    text = os.fspath(store)
    if text.strip() and "://" not in text and not os.path.exists(text):
        raise InputError(f"store {text!r} does not exist")


def parse_int(text, option: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """An integer option with bounds; the message names the option and the value."""
    try:
        value = int(str(text).strip())
    except ValueError:
        raise InputError(f"{option} {text!r}: expected an integer") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        rng = f"{lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
        raise InputError(f"{option} {text}: expected an integer in {rng}")
    return value


def parse_size(text: str, option: str = "--size") -> tuple[int, int, int]:
    """``"N"`` or ``"NX,NY,NZ"`` -> three positive ints."""
    parts = [p.strip() for p in str(text).split(",")]
    msg = f"{option} {text!r}: expected N or NX,NY,NZ with positive integers"
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise InputError(msg) from None
    if len(values) == 1:
        values *= 3
    if len(values) != 3 or any(v < 1 for v in values):
        raise InputError(msg)
    if math.prod(values) > MAX_VOXELS:
        raise InputError(f"{option} {text!r}: {math.prod(values):.3g} voxels is more than any "
                         f"command handles ({MAX_VOXELS:.3g})")
    return tuple(values)


def theta_values(text: str, option: str = "--theta") -> tuple[float, ...]:
    """Seven comma-separated numbers, checked as :class:`vmt_dask.model.Theta` checks them (seven
    finite values in PARAMETER_NAMES order, the alphas and ``a`` > 0), without importing the
    model (numba): a command refuses a bad ``--theta`` before its heavy imports."""
    from ..domain import PARAMETER_NAMES

    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise InputError(f"{option} {text!r}: {exc}") from None
    if len(values) != len(PARAMETER_NAMES):
        raise InputError(f"{option} {text!r}: theta needs {len(PARAMETER_NAMES)} values "
                         f"({', '.join(PARAMETER_NAMES)}), got {len(values)}: {values!r}")
    for name, value in zip(PARAMETER_NAMES, values):
        if not math.isfinite(value):
            raise InputError(f"{option} {text!r}: theta.{name} must be finite, got {value!r}")
        if (name.startswith("alpha") or name == "a") and value <= 0:
            raise InputError(f"{option} {text!r}: theta.{name} must be > 0, got {value!r}")
    return tuple(values)


def parse_theta(text: str):
    """Seven comma-separated numbers -> Theta (errors name the bad value)."""
    values = theta_values(text)
    from ..model import Theta

    try:
        return Theta.from_sequence(values)
    except (TypeError, ValueError) as exc:
        raise InputError(f"--theta {text!r}: {exc}") from None


def parse_axis(text: str) -> int:
    key = str(text).strip().lower()
    if key not in AXES:
        raise InputError(f"--axis {text!r}: expected one of x, y, z")
    return AXES[key]


def parse_axes_arg(text: str) -> list[int]:
    """``--axis x|y|z|all`` -> list of axis indices."""
    if str(text).strip().lower() == "all":
        return [0, 1, 2]
    key = str(text).strip().lower()
    if key not in AXES:
        raise InputError(f"--axis {text!r}: expected one of x, y, z, all")
    return [AXES[key]]


def json_value(value):
    """JSON-safe scalar: non-finite floats become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_table(rows: list[list[str]], out=None) -> None:
    """Left-aligned columns with a rule under the header row."""
    out = out or sys.stdout
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip(), file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)


# --------------------------------------------------------------------------- input
_INPUT_HELP = ("label volume: TIFF stack, folder of TIFF/PNG slices, .npy, .npz, raw binary "
               "(--raw-shape), HDF5 (file.h5:/dataset), Zarr array/group or vmt store")


def add_input_arguments(p: argparse.ArgumentParser, *, phase: bool = True,
                        phase_help: str | None = None) -> None:
    """The options every command reading a user's volume shares."""
    p.add_argument("input", metavar="INPUT", help=_INPUT_HELP)
    p.add_argument("--key", default=None,
                   help="array inside a container: vmt store volume, .npz member, HDF5 dataset, "
                        "Zarr array path, or TIFF series index")
    if phase:
        p.add_argument("--phase", required=True, help=phase_help or (
            "phase name of the label map (SE, AM, pore by default), an integer label value, "
            "or all"))
    p.add_argument("--labels", default=None, metavar="MAP",
                   help="name the labels of the file: pore=0,SE=85,AM=170 or a .json/.yaml file "
                        "(default: the file's own map, else pore=0,SE=1,AM=2)")
    p.add_argument("--allow-absent", action="store_true",
                   help="report a phase that does not occur as zero instead of refusing")
    p.add_argument("--voxel-size", default=None, metavar="UM",
                   help="voxel edge length dx or dx,dy,dz in micrometres (wins over the file's "
                        f"metadata; default: metadata, else {DEFAULT_VOXEL_SIZE_UM:g})")
    p.add_argument("--crop", default=None, metavar="X0:X1,Y0:Y1,Z0:Z1",
                   help="analyse only this box (voxel indices, end exclusive)")
    p.add_argument("--axes", default=None, metavar="ORDER",
                   help="stored axis order of an array input (.npy, .npz, raw, HDF5, Zarr), e.g. "
                        "zyx (default xyz, or what the file records)")
    p.add_argument("--raw-shape", default=None, metavar="NX,NY,NZ",
                   help="shape of a raw binary volume (x varies fastest in the file)")
    p.add_argument("--raw-dtype", default="uint8", help="voxel type of a raw file (default uint8)")
    p.add_argument("--byte-order", default="little", choices=("little", "big"),
                   help="byte order of a raw file (default little)")
    p.add_argument("--raw-offset", default="0", help="header bytes to skip in a raw file")
    p.add_argument("--force", action="store_true",
                   help="run even if the memory estimate says the work cannot fit")


@dataclasses.dataclass
class LoadedInput:
    """A user's volume read for a command."""

    labels: object                      # numpy uint8 (x, y, z)
    source: str
    voxel_size: tuple[float, float, float]
    voxel_origin: str                   # "--voxel-size", "ImageJ metadata", "default", ...
    label_map: dict[str, int]
    label_origin: str                   # "--labels", "file", "default"
    present: list[int]                  # label values present (the file's own values)
    crop: tuple | None
    full_shape: tuple[int, int, int]
    attrs: dict
    values: object = None               # code -> label for label images beyond 0..255

    def code(self, value: int) -> int:
        """The uint8 code in ``labels`` of the file's label ``value`` (present values only)."""
        if self.values is None:
            return int(value)
        import numpy as np

        i = int(np.searchsorted(self.values, value))
        if i < len(self.values) and int(self.values[i]) == int(value):
            return i
        return len(self.values) % 256  # absent: a code no voxel holds (if fewer than 256 labels)

    def kernel_phases(self, phases):
        """``phases`` with their values replaced by the codes of ``labels``."""
        from ..io import Phase

        return [Phase(p.name, self.code(p.value)) for p in phases]

    def header(self) -> str:
        from ..io import format_voxel_size

        crop = ""
        if self.crop is not None:
            crop = " crop " + ",".join(f"{s.start}:{s.stop}" for s in self.crop) + \
                f" of {tuple(self.full_shape)},"
        return (f"{self.source}:{crop} shape {tuple(self.labels.shape)}, voxel size "
                f"{format_voxel_size(self.voxel_size)} ({self.voxel_origin})")


def load_input(args: argparse.Namespace, *, kernels: "list[str]", what: str,
               repeat: int = 1) -> LoadedInput:
    """Open, check memory, crop and read the volume named by ``args`` (see add_input_arguments).

    ``kernels`` are the resource kernels the command will run (see :mod:`vmt_dask.resources`),
    ``repeat`` how many of them run at once at most.  Everything that can be checked is checked
    before the volume is read.
    """
    from .. import resources
    from ..io import open_input, parse_crop, parse_label_map, parse_voxel_size, read_label_codes

    vs_cli = parse_voxel_size(args.voxel_size)
    user_map = parse_label_map(args.labels)
    raw_shape = parse_size(args.raw_shape, "--raw-shape") if args.raw_shape is not None else None
    offset = parse_int(args.raw_offset, "--raw-offset", lo=0)
    vol = open_input(args.input, key=args.key, raw_shape=raw_shape, raw_dtype=args.raw_dtype,
                     byte_order=args.byte_order, raw_offset=offset, axes=args.axes)
    crop = parse_crop(args.crop, vol.shape)
    shape = vol.shape if crop is None else tuple(s.stop - s.start for s in crop)
    if min(shape) < 2:
        raise InputError(f"{vol.source}: shape {shape}: need at least 2 voxels along every axis")
    need = max(resources.estimate_bytes(k, shape) for k in kernels)
    itemsize = vol.dtype.itemsize
    if itemsize > 1:  # the source dtype, and for labels beyond 255 a sort and int64 inverse
        need = max(need, math.prod(shape) * (2 * itemsize + 9))
    resources.check_fits(need, f"{what} on a {'x'.join(map(str, shape))} volume",
                         force=args.force)
    labels, values = read_label_codes(vol, crop=crop)
    if vs_cli is not None:
        vs, origin = vs_cli, "--voxel-size"
        if vol.voxel_size is not None and tuple(vol.voxel_size) != tuple(vs_cli):
            origin = f"--voxel-size, overriding {vol.voxel_size_origin}"
    elif vol.voxel_size is not None:
        vs, origin = tuple(vol.voxel_size), vol.voxel_size_origin
    else:
        vs = (DEFAULT_VOXEL_SIZE_UM,) * 3
        origin = "default: the input records none; set it with --voxel-size"
    from ..io import DEFAULT_LABELS, phase_values_present

    if user_map is not None:
        label_map, label_origin = user_map, "--labels"
    elif vol.labels:
        label_map, label_origin = dict(vol.labels), "file"
    else:
        label_map, label_origin = dict(DEFAULT_LABELS), "default"
    present = [int(v) for v in phase_values_present(labels, values)]
    return LoadedInput(labels, vol.source, tuple(float(v) for v in vs), origin, label_map,
                       label_origin, present, crop, vol.shape, dict(vol.attrs), values)


# ``--phase all`` on a file without a label map reports every label present as a phase; more
# than this many distinct labels is refused: a segmented cathode image has a handful of phases
# (three in the paper's model), while a grey-value image has up to 256 values (README "Formats").
MAX_UNNAMED_PHASES = 16


def resolve_phases(arg: str, loaded: LoadedInput, *, allow_absent: bool, solids_only: bool = False):
    """``--phase`` -> list of Phase (name, value); absent phases refused unless allowed.

    ``all`` means every phase of the label map (without the model's pore phase when
    ``solids_only`` and the map is the model's own); with the default map (0/1/2) and a file
    whose labels are not all in it, ``all`` means every label value present (refused with
    InputError above ``MAX_UNNAMED_PHASES`` distinct labels: a grey-value image); with a map
    from ``--labels`` or the file, labels present but not named are left out with a note on
    stderr.  A comma list (``SE,AM``) names several phases.
    """
    from ..io import Phase, format_present, resolve_phase

    if str(arg).strip().lower() == "all":
        if loaded.label_origin == "default" and not set(loaded.present) <= set(loaded.label_map.values()):
            if len(loaded.present) > MAX_UNNAMED_PHASES:
                raise InputError(
                    f"--phase all: {loaded.source} holds {len(loaded.present)} distinct labels "
                    f"({format_present(loaded.present, loaded.label_map)}); a segmented image has a "
                    f"few phases (is it a grey-value image? segment it first), or name the phases "
                    f"with --labels NAME=VALUE,... or give --phase VALUE")
            by_value = {v: k for k, v in loaded.label_map.items()}
            phases = [Phase(by_value.get(v, str(v)), v) for v in loaded.present]
        else:
            phases = [Phase(k, v) for k, v in loaded.label_map.items()]
            if solids_only and loaded.label_origin != "--labels":
                phases = [p for p in phases if p.name.lower() != "pore"] or phases
    else:
        phases = [resolve_phase(p.strip(), loaded.label_map) for p in str(arg).split(",") if p.strip()]
        if not phases:
            raise InputError(f"--phase {arg!r}: expected a phase name, a label value or all")
    absent = [p for p in phases if p.value not in loaded.present]
    if str(arg).strip().lower() == "all" and loaded.label_origin != "default":
        named = set(loaded.label_map.values())
        unnamed = [v for v in loaded.present if v not in named]
        if unnamed:
            print(f"note: {loaded.source}: labels {format_present(unnamed)} are not named by the "
                  f"label map ({loaded.label_origin}) and are not reported; name them in --labels "
                  f"to include them", file=sys.stderr)
    if absent and not allow_absent:
        p = absent[0]
        hint = ""
        if loaded.label_origin == "default":
            hint = "; name the file's labels with --labels NAME=VALUE,... or give --phase VALUE"
        raise InputError(f"phase {p.name} (label {p.value}) is absent from {loaded.source} "
                         f"(labels present: {format_present(loaded.present, loaded.label_map)})"
                         f"{hint}; --allow-absent reports it as zero")
    return phases, absent


class JobProgress:
    """Progress of a command's Dask jobs (``progress(done, total, stage)``) on stderr, with the
    rate and an ETA of the current batch.

    On a terminal one line is rewritten in place (ended when a stage or batch completes); in a
    log or pipe a line is written when a batch completes, and in between only when another
    ``every_pct`` percent is done and ``every_s`` seconds have passed since the last line (a
    design of ~66 jobs wrote 66 lines before).  Call :meth:`close` at the end.
    """

    def __init__(self, what: str, stream=None, *, interactive: bool | None = None,
                 every_pct: float = 25.0, every_s: float = 10.0):
        self.what = what
        self.stream = sys.stderr if stream is None else stream
        self.interactive = (getattr(self.stream, "isatty", lambda: False)() if interactive is None
                            else interactive)
        self.every_pct, self.every_s = float(every_pct), float(every_s)
        self.t0 = time.perf_counter()
        self.base = 0
        self.total = None
        self.stage = None
        self.last_line = float("-inf")
        self.last_pct = 0.0
        self.open_line = 0  # characters of an unfinished in-place line

    @staticmethod
    def _eta(seconds: float) -> str:
        if not math.isfinite(seconds) or seconds < 0:
            return "?"
        seconds = int(round(seconds))
        return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"

    def __call__(self, done: int, total: int, stage: str) -> None:
        now = time.perf_counter()
        if total != self.total or stage != self.stage:  # a new batch: its rate from its start
            if self.open_line:
                self._end_line()
            # the rate counts completions after the batch's first one, over the time since it
            self.t0, self.base, self.total, self.stage = now, done, total, stage
            self.last_pct = 0.0
        k = done - self.base
        per_s = k / (now - self.t0) if k > 0 and now > self.t0 else float("nan")
        eta = (total - done) / per_s if per_s == per_s and per_s > 0 else float("nan")
        pct = 100.0 * done / total if total else 100.0
        rate = f", {per_s:.3g}/s" if per_s == per_s else ""
        text = f"  {stage}: {done}/{total} {self.what} ({pct:.0f} %){rate}, ETA {self._eta(eta)}"
        finished = done >= total
        if self.interactive:
            pad = max(0, self.open_line - len(text))
            self.stream.write("\r" + text + " " * pad)
            self.open_line = len(text)
            if finished:
                self._end_line()
            else:
                self.stream.flush()
            return
        if finished or (pct - self.last_pct >= self.every_pct and now - self.last_line >= self.every_s):
            self.stream.write(text + "\n")
            self.stream.flush()
            self.last_line, self.last_pct = now, pct

    def _end_line(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
        self.open_line = 0

    def close(self) -> None:
        """End an unfinished in-place line."""
        if self.open_line:
            self._end_line()

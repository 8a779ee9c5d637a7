"""Five-point landmark files: one line per image, ``path x1 y1 ... x5 y5 [flag [bx1 by1 bx2 by2]]``, tab separated,
no header.

Points are left eye, right eye, nose, left mouth corner, right mouth corner, in the pixel frame of the image as it
is on disk. The flag is ``ok`` when points were found; any other value (``missing``, ``no-face``, ...) carries NaN
points and tells the align step to fall back to a centre crop and count it. This is the format of the provided
LFW file (which has no flag column), so the align step does not care where the points came from.

A detector's file may add the face's box after the flag, ``bx1 by1 bx2 by2`` (corners, same pixel frame; 16 fields):
MTCNN's landmarking writes it for every ``ok`` face and NaN for the others, and alignment method ``box`` cuts it.
Lines of 11 or 12 fields (no box) read as before, with ``box`` None; a file may mix both.

A provided source is either one such table for every image (LFW) or a folder with one file per image (CALFW's
``<image stem>_5loc_attri.txt``, five lines ``x y``); each dataset format reads its own into the same table
(``facebench.data.formats``), and ``from_provided`` scales it to the images. Provided sources carry no boxes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facebench.images import ImageError, image_size
from facebench.io import atomic_path

OK = "ok"


@dataclass
class Landmarks:
    points: np.ndarray  # (5, 2) float64, NaN when flag != ok
    flag: str = OK
    box: np.ndarray | None = None  # (4,) float64 x1, y1, x2, y2 of the detector's face (NaN when flag != ok), or None


def read(path: str | Path) -> dict[str, Landmarks]:
    """Parse a landmark file; a malformed line raises an error naming the file and line."""
    out: dict[str, Landmarks] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            fields = line.split("\t") if "\t" in line else line.split()
            if len(fields) not in (11, 12, 16):
                raise ValueError(f"{path}: line {lineno}: expected 11 fields (path and 10 coordinates), 12 "
                                 f"(with a flag) or 16 (with a flag and a box), found {len(fields)}")
            try:
                coords = np.array([float(v) for v in fields[1:11]], dtype=np.float64).reshape(5, 2)
            except ValueError as err:
                raise ValueError(f"{path}: line {lineno}: a coordinate is not a number ({err})") from None
            flag = fields[11] if len(fields) >= 12 else OK
            if flag == OK and not np.all(np.isfinite(coords)):
                raise ValueError(f"{path}: line {lineno}: flag 'ok' with non-finite coordinates")
            box = _read_box(fields[12:16], flag, f"{path}: line {lineno}") if len(fields) == 16 else None
            if fields[0] in out:
                raise ValueError(f"{path}: line {lineno}: {fields[0]} appears twice")
            out[fields[0]] = Landmarks(coords, flag, box)
    return out


def _read_box(fields: list[str], flag: str, where: str) -> np.ndarray:
    """The box columns of a line: four numbers; for an ok face finite, with x2 > x1 and y2 > y1."""
    try:
        box = np.array([float(v) for v in fields], dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{where}: a box coordinate is not a number ({err})") from None
    if flag == OK:
        if not np.all(np.isfinite(box)):
            raise ValueError(f"{where}: flag 'ok' with a non-finite box {fields}")
        if box[2] <= box[0] or box[3] <= box[1]:
            raise ValueError(f"{where}: box {fields} is not x1 y1 x2 y2 with x2 > x1 and y2 > y1")
    return box


def _fmt(v: float) -> str:
    return "nan" if math.isnan(v) else f"{v:.3f}"


def write(path: str | Path, rows: dict[str, Landmarks]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            for name, lm in rows.items():
                box = [] if lm.box is None else [_fmt(float(v)) for v in np.asarray(lm.box).reshape(4)]
                fh.write("\t".join([name, *(_fmt(v) for v in lm.points.reshape(-1)), lm.flag, *box]) + "\n")


def from_provided(table: dict[str, Landmarks], frame: tuple[float, float], images_root: str | Path,
                  images: list[str]) -> tuple[dict[str, Landmarks], dict]:
    """Landmarks for ``images`` from a provided table (as its dataset format reads it: ``data.formats``) given in a
    ``frame`` (w, h) coordinate system.

    Each image's points are scaled by (its width / frame width, its height / frame height) about pixel centres,
    ``p' = (p + 0.5) * s - 0.5`` (the convention of image resizing, where pixel i covers [i - 0.5, i + 0.5]), so the
    250x250-frame LFW file serves the 150 px copies too (CALFW's points are in the frames' own pixels: frame = image
    size, scale 1). Images absent from the source get flag ``missing``; unreadable images get ``unreadable`` (the
    align step decides what that means). Returns (landmarks, counts).
    """
    root = Path(images_root)
    out: dict[str, Landmarks] = {}
    counts = {"ok": 0, "missing": 0, "unreadable": 0}
    nan = np.full((5, 2), np.nan)
    for name in images:
        if name not in table:
            out[name] = Landmarks(nan.copy(), "missing")
            counts["missing"] += 1
            continue
        try:
            w, h = image_size(root / name)
        except ImageError:
            out[name] = Landmarks(nan.copy(), "unreadable")
            counts["unreadable"] += 1
            continue
        scale = np.array([w / frame[0], h / frame[1]])
        out[name] = Landmarks((table[name].points + 0.5) * scale - 0.5, table[name].flag)
        counts["ok" if table[name].flag == OK else "missing"] += 1
    return out, counts

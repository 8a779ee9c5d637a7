"""Face alignment: a least-squares similarity transform of five landmarks onto a template, a centre crop, or the
detector's box with a margin, cut and resized with no warp (method ``box``: the crops facenet-pytorch's models were
trained on).

The aligned faces of one (dataset, landmark source, template) go once into a decode-free store (its format:
``facebench.store``), so training and embedding never decode a JPEG again.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

from facebench import templates
from facebench.images import ImageError, load_rgb
from facebench.io import atomic_path, write_json, write_tsv
from facebench.landmarks import OK, Landmarks
from facebench.store import INDEX_COLUMNS, STORE_VERSION, reserve


@dataclass(frozen=True)
class Template:
    name: str
    size: tuple[int, int]  # (width, height)
    points: np.ndarray  # (5, 2) in the crop's pixel frame


def template(name: str) -> Template:
    """A template of ``facebench.templates`` with its points as an array."""
    spec = templates.template(name)
    return Template(name, tuple(spec["size"]), np.array(spec["points"], dtype=np.float64))


def similarity_matrix(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 matrix of the least-squares similarity (Umeyama) taking ``src`` points onto ``dst`` points."""
    tf = SimilarityTransform.from_estimate(np.asarray(src, np.float64), np.asarray(dst, np.float64))
    if not tf:
        raise ValueError(f"no similarity transform fits the points {np.asarray(src).tolist()}")
    return tf.params[:2]


def warp(img: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear warp into a (width, height) crop, black outside the image (as the seed's cv2.warpAffine)."""
    return cv2.warpAffine(img, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def align(img: np.ndarray, points: np.ndarray, tpl: Template) -> np.ndarray:
    return warp(img, similarity_matrix(points, tpl.points), tpl.size)


def center_crop(img: np.ndarray, frame: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """The seed's baseline: a (width, height) patch at the centre of the ``frame``, no landmarks, no scaling.

    An image stored at another scale than the frame (the 150 px LFW copies of the 250 px frames) is first resized
    to the frame, so the face has the scale the seed cropped at.
    """
    fw, fh = frame
    if img.shape[1] != fw or img.shape[0] != fh:
        img = cv2.resize(img, (fw, fh), interpolation=cv2.INTER_LINEAR)
    w, h = size
    if w > fw or h > fh:
        raise ValueError(f"a {w}x{h} crop does not fit in a {fw}x{fh} frame")
    x0, y0 = (fw - w) // 2, (fh - h) // 2
    return np.ascontiguousarray(img[y0:y0 + h, x0:x0 + w])


def box_crop(img: np.ndarray, box, margin: int, size: int) -> np.ndarray:
    """The face in ``box`` (x1, y1, x2, y2, the image's pixels) with ``margin`` px around it, resized to size x size.

    The margin is in pixels of the final crop, so it is scaled to the image: ``mx = margin * (x2 - x1) / (size -
    margin)`` (``my`` likewise); the window ``[x1 - mx/2, y1 - my/2, x2 + mx/2, y2 + my/2]`` is clipped to the image,
    truncated to integers, cut and area-resized, not made square (MTCNN's boxes already are, nearly): facenet-pytorch's
    ``extract_face``, re-implemented.
    """
    size, margin = int(size), int(margin)
    if not 0 <= margin < size:
        raise ValueError(f"box margin {margin} must be at least 0 and less than the crop size {size}")
    ih, iw = img.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, np.float64).reshape(-1)[:4])
    mx, my = margin * (x2 - x1) / (size - margin), margin * (y2 - y1) / (size - margin)
    left, top = int(max(x1 - mx / 2, 0)), int(max(y1 - my / 2, 0))
    right, bottom = int(min(x2 + mx / 2, iw)), int(min(y2 + my / 2, ih))
    if right <= left or bottom <= top:
        raise ValueError(f"box {[x1, y1, x2, y2]} leaves nothing of a {iw}x{ih} image")
    patch = np.ascontiguousarray(img[top:bottom, left:right])
    return np.ascontiguousarray(cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA))


# what build_store cuts, and given: faces that come aligned (an insightface .bin, build_given_store); degrade is
# facebench.resolution's, from a store
METHODS = ("landmarks", "center", "box", "given")
CUT_METHODS = ("landmarks", "center", "box")


def build_store(images_root: str | Path, images: list[str], out_dir: str | Path, *, tpl: Template | None = None,
                method: str, landmarks: dict[str, Landmarks] | None = None, frame: tuple[int, int] = (250, 250),
                on_error: str = "fail", threads: int = 1, margin: int | None = None,
                size: int | None = None) -> dict:
    """Align ``images`` into a store in ``out_dir``; returns the summary (counts of every status).

    ``method`` is ``landmarks`` (similarity transform onto ``tpl``; an image without usable points falls back to a
    centre crop, recorded as ``center-fallback``), ``center`` (centre crop for all) or ``box`` (the landmark
    records' detector boxes with ``margin``, resized to ``size`` x ``size``: ``box_crop``; no ``tpl``, the store's
    template is ``box``; a record that is not ok or has no box falls back to a size x size centre crop, recorded as
    ``center-fallback``). An unreadable image is an error naming every such file, or with ``on_error: skip`` a black
    face recorded as ``failed`` (its pairs are dropped and counted).
    """
    if method not in CUT_METHODS:
        raise ValueError(f"alignment method must be one of {', '.join(CUT_METHODS)}, got {method!r} (given: "
                         "build_given_store)")
    if method in ("landmarks", "box") and landmarks is None:
        raise ValueError(f"alignment method {method!r} needs a landmark table")
    if on_error not in ("fail", "skip"):
        raise ValueError(f"on_error must be 'fail' or 'skip', got {on_error!r}")
    if method == "box":
        if margin is None or size is None:
            raise ValueError("alignment method 'box' needs a margin and a size (px)")
        margin, size = int(margin), int(size)
        if not 0 <= margin < size:
            raise ValueError(f"box margin {margin} must be at least 0 and less than the crop size {size}")
        if size > min(frame):
            raise ValueError(f"a {size}x{size} box crop does not fit in a {frame[0]}x{frame[1]} frame (the centre "
                             "crop it falls back to)")
        oks = [lm for lm in landmarks.values() if lm.flag == OK]
        if oks and all(lm.box is None for lm in oks):
            raise ValueError("alignment method 'box' needs the detector's boxes, and no record of the landmark table "
                             "has one (a provided file, or one written before boxes were recorded: landmark again)")
        crop, tpl_name = (size, size), "box"
    else:
        if tpl is None:
            raise ValueError(f"alignment method {method!r} needs a template")
        crop, tpl_name = tpl.size, tpl.name
    root = Path(images_root)
    w, h = crop

    def fallback(img, note, why):
        return center_crop(img, frame, crop), "center-fallback", "; ".join(filter(None, [note, why]))

    def one(name: str) -> tuple[np.ndarray, str, str]:
        try:
            img, note = load_rgb(root / name)
        except ImageError as err:
            return np.zeros((h, w, 3), np.uint8), "failed", str(err)
        if method == "center":
            return center_crop(img, frame, crop), "center", note
        lm = landmarks.get(name)
        if lm is None or lm.flag != OK:
            return fallback(img, note, "no landmarks" if lm is None else f"landmarks {lm.flag}")
        if method == "landmarks":
            return align(img, lm.points, tpl), "aligned", note
        if lm.box is None or not np.all(np.isfinite(lm.box)):
            return fallback(img, note, "no box")
        try:
            return box_crop(img, lm.box, margin, size), "aligned", note
        except ValueError as err:
            return fallback(img, note, str(err))

    return _write_store(one, images, out_dir, crop, on_error, threads,
                        {"template": tpl_name, "method": method, **({"margin": margin} if method == "box" else {})})


def _write_store(one, images: list[str], out_dir: Path, crop: tuple[int, int], on_error: str, threads: int,
                 about: dict) -> dict:
    """The store of ``one(name) -> (face, status, note)`` over ``images``; its summary holds ``about`` too."""
    w, h = crop
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "faces.npy", suffix=".npy") as tmp:
        faces = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(images), h, w, 3))
        del faces  # created here (zeros), filled by _align_all
        reserve(tmp)
        status, notes = _align_all(one, images, tmp, threads)
        failed = [n for n, s in zip(notes, status) if s == "failed"]
        if failed and on_error == "fail":
            raise ImageError(f"{len(failed)} image(s) cannot be read (set align.on_error: skip to drop their "
                             "pairs and count them):\n  " + "\n  ".join(failed[:50]))
    counts = {s: status.count(s) for s in sorted(set(status))}
    converted = sum(1 for n in notes if n.startswith("converted from"))
    write_tsv(out_dir / "index.tsv", INDEX_COLUMNS,
              ([i, p, s, n] for i, (p, s, n) in enumerate(zip(images, status, notes))))
    summary = {"store_version": STORE_VERSION, "n_images": len(images), "template": about.pop("template"),
               "size": list(crop), "method": about.pop("method"), "status_counts": counts,
               "mode_converted": converted, **about}
    write_json(out_dir / "summary.json", summary)
    return summary


def build_given_store(bin_path: str | Path, images: list[str], out_dir: str | Path, *, tpl: Template,
                      on_error: str = "fail", threads: int = 1) -> dict:
    """The store of an insightface .bin's faces (method ``given``): each face as stored, already aligned (at 112x112
    by insightface's packing), resized to ``tpl``'s size only where it differs (area when shrinking, bilinear when
    enlarging), the summary recording the sizes met and whether any was resized. ``images`` are the .bin's index
    names (``000042.jpg``); an undecodable face is an error naming its index, or with ``on_error: skip`` a black
    face recorded as ``failed``."""
    from facebench.data import insightface_bin

    if on_error not in ("fail", "skip"):
        raise ValueError(f"on_error must be 'fail' or 'skip', got {on_error!r}")
    bins, _ = insightface_bin.read(bin_path)
    w, h = tpl.size
    sizes: dict[str, int] = {}

    def one(name: str) -> tuple[np.ndarray, str, str]:
        i = insightface_bin.index_of(name)
        if i >= len(bins):
            raise ValueError(f"{name}: image {i} is past the end of {bin_path} ({len(bins)} images)")
        try:
            img = insightface_bin.decode(bins[i], i, bin_path)
        except ValueError as err:
            return np.zeros((h, w, 3), np.uint8), "failed", str(err)
        size = f"{img.shape[1]}x{img.shape[0]}"
        sizes[size] = sizes.get(size, 0) + 1  # dict updates are atomic under the GIL; counts only
        if img.shape[:2] == (h, w):
            return img, "given", ""
        small = img.shape[1] > w or img.shape[0] > h
        face = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if small else cv2.INTER_LINEAR)
        return np.ascontiguousarray(face), "given", f"resized from {size}"

    summary = _write_store(one, images, out_dir, (w, h), on_error, threads,
                           {"template": tpl.name, "method": "given", "source": str(bin_path)})
    summary["given_sizes"] = dict(sorted(sizes.items()))
    summary["resized"] = [s for s in sizes if s != f"{w}x{h}"] != []
    summary["note"] = ("faces as stored in the .bin" if not summary["resized"] else
                       f"faces resized from {', '.join(s for s in sorted(sizes) if s != f'{w}x{h}')} to {w}x{h}, "
                       f"the template's size")
    write_json(Path(out_dir) / "summary.json", summary)
    return summary


CHUNK = 64  # images per task of the thread pool: a task's overhead is then small beside its work (~40 ms)


def _align_all(one, images: list[str], path: Path, threads: int) -> tuple[list[str], list[str]]:
    """Run ``one`` over ``images`` in chunks of CHUNK, writing every face into the ``.npy`` at ``path`` (created).

    Each face lands at its own row whichever thread made it, so the store is the same bytes as a serial run's.
    Why chunks: decoding, the similarity fit and the warp cost ~0.6 ms of CPU per 150 px LFW image (7,701 images:
    ~4 s on an idle 2-core VM), and a task per image (a future, a queue round trip, the GIL handed over) added
    10-15% to the wall time. Threads, not processes, though half the work holds the GIL: forked workers were ~1 s
    faster but deadlocked in OpenCV's thread pool inherited from the parent; spawned ones would spend that second
    importing numpy, OpenCV and scikit-image again.
    """
    from facebench.progress import bar

    n = len(images)
    if n == 0:
        return [], []
    faces = np.load(path, mmap_mode="r+")

    def rows(lo: int) -> list[tuple[str, str]]:
        out = []
        for i in range(lo, min(lo + CHUNK, n)):
            face, st, note = one(images[i])
            faces[i] = face
            out.append((st, note))
        return out

    status, notes = [], []
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool, bar(n, "align") as progress:
        for chunk in pool.map(rows, range(0, n, CHUNK)):
            status.extend(st for st, _ in chunk)
            notes.extend(note for _, note in chunk)
            progress.update(len(chunk))
    faces.flush()  # the map itself closes with this function's frame, before the caller renames the file
    return status, notes

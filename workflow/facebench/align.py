"""Face alignment: a least-squares similarity transform of five landmarks onto a template, or a centre crop.

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


def build_store(images_root: str | Path, images: list[str], out_dir: str | Path, *, tpl: Template,
                method: str, landmarks: dict[str, Landmarks] | None = None, frame: tuple[int, int] = (250, 250),
                on_error: str = "fail", threads: int = 1) -> dict:
    """Align ``images`` into a store in ``out_dir``; returns the summary (counts of every status).

    ``method`` is ``landmarks`` (similarity transform; an image without usable points falls back to a centre crop,
    recorded as ``center-fallback``) or ``center`` (centre crop for all). An unreadable image is an error naming every
    such file, or with ``on_error: skip`` a black face recorded as ``failed`` (its pairs are dropped and counted).
    """
    if method not in ("landmarks", "center"):
        raise ValueError(f"alignment method must be 'landmarks' or 'center', got {method!r}")
    if method == "landmarks" and landmarks is None:
        raise ValueError("alignment by landmarks needs a landmark table")
    if on_error not in ("fail", "skip"):
        raise ValueError(f"on_error must be 'fail' or 'skip', got {on_error!r}")
    root, out_dir = Path(images_root), Path(out_dir)
    w, h = tpl.size

    def one(name: str) -> tuple[np.ndarray, str, str]:
        try:
            img, note = load_rgb(root / name)
        except ImageError as err:
            return np.zeros((h, w, 3), np.uint8), "failed", str(err)
        if method == "center":
            return center_crop(img, frame, tpl.size), "center", note
        lm = landmarks.get(name)
        if lm is None or lm.flag != OK:
            why = "no landmarks" if lm is None else f"landmarks {lm.flag}"
            return center_crop(img, frame, tpl.size), "center-fallback", "; ".join(filter(None, [note, why]))
        return align(img, lm.points, tpl), "aligned", note

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
    summary = {"store_version": STORE_VERSION, "n_images": len(images), "template": tpl.name,
               "size": list(tpl.size), "method": method, "status_counts": counts, "mode_converted": converted}
    write_json(out_dir / "summary.json", summary)
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

"""Landmark a list of images with MTCNN: one record per image, never a silently dropped one.

Flags written to the landmark file (the align step falls back to a centre crop, counted, for any flag but ``ok``):
  ok           one face, or several and the ``select`` policy chose one (counted as ``multiple``)
  no-face      the detector found no face
  too-small    the image is smaller than the detector's min face size, so nothing could be found
  unreadable   missing, truncated or not an image (the reason is in the summary)
Grayscale, palette, CMYK and RGBA images are converted to RGB first and counted as ``converted``.
Each ``ok`` record also carries the chosen face's box (x1, y1, x2, y2, the detector's output box, before any margin),
written after the flag, which alignment method ``box`` cuts; the other records carry a NaN box.
"""
from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from itertools import islice
from pathlib import Path

import numpy as np

from facebench import runtime
from facebench.detect.mtcnn import MTCNN
from facebench.images import ImageError, load_rgb
from facebench.landmarks import OK, Landmarks
from facebench.progress import bar

NAN = np.full((5, 2), np.nan)
NAN_BOX = np.full(4, np.nan)


def _failed(flag: str) -> Landmarks:
    return Landmarks(NAN.copy(), flag, NAN_BOX.copy())


def _load(root: Path, name: str):
    try:
        img, note = load_rgb(root / name)
        return img, note, ""
    except ImageError as err:
        return None, "", str(err)


def _ordered(pool: Executor, fn: Callable, items: Iterable, ahead: int) -> Iterator:
    """``fn`` over ``items`` in ``pool``, results in the order of ``items``, with at most ``ahead`` submitted and not
    yet taken (``Executor.map`` submits every item at once: all images decoded into memory before the first is
    used)."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def default_decoders(device, threads: int | None) -> int:
    """Decoder threads ahead of the detector: none on CPU, where each stream decodes its own chunk (the streams
    already decode in parallel, and more threads would only take the cores the streams run on); on a GPU the job's
    threads (at least 2), which the cascade, running on the device, leaves free."""
    return 0 if device.type == "cpu" else max(2, runtime.cpu_streams(threads))


def _landmark_chunk(root: Path, chunk: list[str], detector: MTCNN, loaded: list | None = None):
    """Load (unless ``loaded`` holds the chunk's ``_load`` results, decoded ahead) and landmark one chunk of images:
    (records by name, counts of multiple/converted, notes by name)."""
    select = detector.settings.select
    min_side = detector.settings.min_face_size
    out: dict[str, Landmarks] = {}
    counts: Counter = Counter()
    notes: dict[str, str] = {}
    by_size: dict[tuple[int, int], list[tuple[str, np.ndarray]]] = {}
    if loaded is None:
        loaded = [_load(root, name) for name in chunk]
    for name, (img, note, error) in zip(chunk, loaded, strict=True):
        if note:
            counts["converted"] += 1
            notes[name] = note
        if img is None:
            out[name] = _failed("unreadable")
            notes[name] = error
        elif min(img.shape[:2]) < min_side:
            out[name] = _failed("too-small")
            notes[name] = f"{img.shape[1]}x{img.shape[0]} px is below min_face_size {min_side}"
        else:
            by_size.setdefault(img.shape[:2], []).append((name, img))
    for (h, w), items in by_size.items():
        faces = detector.detect(np.stack([img for _, img in items]))
        for (name, _), found in zip(items, faces):
            k = found.pick(w, h, select)
            if k is None:
                out[name] = _failed("no-face")
                continue
            if len(found.boxes) > 1:
                counts["multiple"] += 1
            box = np.asarray(found.boxes[k], np.float64)[:4]  # x1, y1, x2, y2 (a score column, if any, dropped)
            out[name] = Landmarks(found.points[k].astype(np.float64), OK, box)
    return out, counts, notes


def landmark_images(images_root: str | Path, names: list[str], detector: MTCNN, batch_size: int = 32,
                    threads: int = 1, decoders: int | None = None) -> tuple[dict[str, Landmarks], dict]:
    """Landmarks for every name (in order), and a summary with counts and the non-ok images with their reasons.

    On CPU the chunks of ``batch_size`` images (decode + cascade) are shared among ``threads`` independent streams of
    one intra-op thread each (see runtime.cpu_streams for why). With ``decoders`` (default: ``default_decoders``, so
    on a GPU) the images are decoded in a pool of that many threads, up to two chunks ahead of the detector, which
    then only runs the cascade. The result depends neither on the number of streams nor on the decoders."""
    root = Path(images_root)
    streams = runtime.cpu_streams(threads) if detector.device.type == "cpu" else 1
    decoders = default_decoders(detector.device, threads) if decoders is None else decoders
    out: dict[str, Landmarks] = {}
    counts = Counter({k: 0 for k in (OK, "no-face", "too-small", "unreadable", "multiple", "converted")})
    notes: dict[str, str] = {}
    chunks = [names[lo:lo + batch_size] for lo in range(0, len(names), batch_size)]
    # the decoders' pool starts its threads only when given work: none with decoders 0
    with (runtime.ieee_fp32(detector.device) as precision, runtime.one_thread_per_stream(streams),
          ThreadPoolExecutor(max_workers=streams) as pool,
          ThreadPoolExecutor(max_workers=max(1, decoders)) as decode_pool, bar(len(names), "mtcnn") as progress):
        if decoders:  # PIL decodes with the GIL released, so threads decode in parallel
            loaded = _ordered(decode_pool, lambda n: _load(root, n), names, ahead=2 * batch_size)
            work = ((c, list(islice(loaded, len(c)))) for c in chunks)  # taken in order, by this thread only
            results = _ordered(pool, lambda cl: _landmark_chunk(root, cl[0], detector, cl[1]), work, ahead=streams)
        else:
            results = pool.map(lambda c: _landmark_chunk(root, c, detector), chunks)
        for records, chunk_counts, chunk_notes in results:
            out.update(records)
            counts.update(chunk_counts)
            notes.update(chunk_notes)
            progress.update(len(records))
    for lm in out.values():
        counts[lm.flag] += 1
    ordered = {name: out[name] for name in names}
    summary = {
        "source": "mtcnn", "images": len(names), "counts": dict(counts), "select": detector.settings.select,
        "settings": {"min_face_size": detector.settings.min_face_size, "factor": detector.settings.factor,
                     "thresholds": list(detector.settings.thresholds)},
        "not_ok": {n: f"{lm.flag}: {notes.get(n, '')}".rstrip(": ") for n, lm in ordered.items() if lm.flag != OK},
        "notes": notes,
    }
    if detector.device.type == "cuda":  # CPU summaries stay as they were: fp32 there always meant IEEE fp32
        summary["precision"] = precision
    return ordered, summary

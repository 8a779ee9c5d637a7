"""How far one landmark source is from another, measured in a common frame (LFW: the 250x250 original)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from facebench.images import ImageError, image_size
from facebench.landmarks import OK, Landmarks

POINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def agreement(detected: dict[str, Landmarks], reference: dict[str, Landmarks], images_root: str | Path,
              frame: tuple[float, float], worst: int = 5) -> dict:
    """Distances between the two sources' points for every image where both have points, in ``frame`` pixels.

    Each image's points are in its own pixel frame; a difference scales by frame / image size per axis (the
    pixel-centre offset of rescaling cancels in a difference). Images only one source has are counted, not used.
    """
    root = Path(images_root)
    names, scale = [], []
    counts = {"compared": 0, "detected_not_ok": 0, "reference_not_ok": 0, "unreadable": 0}
    for name, det in detected.items():
        ref = reference.get(name)
        if det.flag != OK:
            counts["detected_not_ok"] += 1
            continue
        if ref is None or ref.flag != OK:
            counts["reference_not_ok"] += 1
            continue
        try:
            w, h = image_size(root / name)
        except ImageError:
            counts["unreadable"] += 1
            continue
        names.append(name)
        scale.append((frame[0] / w, frame[1] / h))
    counts["compared"] = len(names)
    if not names:
        return {"counts": counts, "frame": list(frame)}
    diff = np.stack([detected[n].points - reference[n].points for n in names]) * np.array(scale)[:, None, :]
    dist = np.linalg.norm(diff, axis=2)  # (images, 5)
    per_image = dist.mean(axis=1)
    order = np.argsort(-per_image, kind="stable")[:worst]
    return {
        "counts": counts, "frame": list(frame),
        "distance": {"mean": float(dist.mean()), "median": float(np.median(dist)),
                     "p95": float(np.percentile(dist, 95)), "max": float(dist.max())},
        "per_point_mean": {p: float(v) for p, v in zip(POINTS, dist.mean(axis=0))},
        "mean_offset": {"x": float(diff[..., 0].mean()), "y": float(diff[..., 1].mean())},
        "worst_images": [{"image": names[i], "mean_distance": float(per_image[i])} for i in order],
    }

"""Greedy non-maximum suppression over many groups (images) at once, in 'union' (IoU) and 'min' modes."""
from __future__ import annotations

import numpy as np

MODES = ("union", "min")


def overlap(a: np.ndarray, b: np.ndarray, mode: str = "union", inclusive: bool = False) -> np.ndarray:
    """Row-wise overlap of boxes ``a`` and ``b`` (x1, y1, x2, y2): intersection over union, or over the smaller area.

    ``inclusive`` counts both end pixels (width x2 - x1 + 1), the convention of the original MATLAB MTCNN, which
    its 'min' stage keeps; the 'union' stages use plain widths. Degenerate pairs (zero denominator) overlap 0.
    """
    if mode not in MODES:
        raise ValueError(f"NMS mode must be one of {MODES}, not {mode!r}")
    add = 1.0 if inclusive else 0.0
    area_a = (a[:, 2] - a[:, 0] + add) * (a[:, 3] - a[:, 1] + add)
    area_b = (b[:, 2] - b[:, 0] + add) * (b[:, 3] - b[:, 1] + add)
    iw = np.maximum(0.0, np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + add)
    ih = np.maximum(0.0, np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + add)
    inter = iw * ih
    denom = np.minimum(area_a, area_b) if mode == "min" else area_a + area_b - inter
    return np.divide(inter, denom, out=np.zeros_like(inter), where=denom > 0)


def nms(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray | None = None, threshold: float = 0.5,
        mode: str = "union", inclusive: bool = False) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS within each group, ordered by group, then score descending.

    Within a group, the best-scoring box is kept and every box overlapping it by more than ``threshold`` is dropped,
    then the same again on what is left. All groups advance together, one kept box per group per round, so a batch
    of images costs as many numpy rounds as the most crowded image keeps boxes, not one Python loop per box.
    """
    n = len(boxes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    groups = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups)
    order = np.lexsort((-np.asarray(scores), groups))
    b, g = np.asarray(boxes)[order], groups[order]
    alive = np.arange(n)  # positions in the sorted order still undecided, kept sorted
    kept = []
    while len(alive):
        ga = g[alive]
        first = np.ones(len(alive), dtype=bool)
        first[1:] = ga[1:] != ga[:-1]
        heads = alive[first]  # the best box left in each group
        kept.append(heads)
        rest = alive[~first]
        if not len(rest):
            break
        head_of_rest = heads[np.cumsum(first)[~first] - 1]
        alive = rest[overlap(b[rest], b[head_of_rest], mode, inclusive) <= threshold]
    return order[np.sort(np.concatenate(kept))]

"""Open-set identification (a watch list) on the closed-set identification images: DIR at fixed FPIR.

Protocol (``watch_list``), deterministic for a seed (the config's ``seed``):

1. The identities with at least two images are sorted by name and shuffled with ``numpy.random.default_rng(seed)``;
   the first half of them (rounded down) are *enrolled*, the rest, and every identity with a single image, are not.
2. Each enrolled identity enrolls one of its images as its gallery entry, chosen with the same generator (identities
   in name order, its images in list order); its other images are *mated* probes. Every image of a non-enrolled
   identity is a *non-mated* probe. So the gallery holds one image per enrolled identity and no probe is in it.
3. A probe's score against an identity is the cosine similarity of the two images' features.
4. FPIR(t), the false positive identification rate: the share of non-mated probes whose best gallery score is above
   t. The threshold for a target FPIR f is the lowest one, taken from the non-mated best scores, with FPIR(t) <= f:
   the (floor(f * n_nonmated) + 1)-th highest of them.
5. DIR(t), the detection and identification rate: the share of mated probes whose own identity is at rank 1 (no
   other gallery identity scores higher) and whose score is above t.

The images are those rank-N evaluates (faces that failed to align are dropped first, in cli.evaluate.cmd_rank), so a
failed face changes the split only where it changes which identities have two images.
"""
from __future__ import annotations

import numpy as np

from facebench.evaluate.scores import unit_rows

PROTOCOL = ("watch list: half (rounded down) of the identities with >= 2 images, shuffled with the config seed, are "
            "enrolled with one seeded image each as the gallery; their other images are mated probes, every image of "
            "the other identities a non-mated probe; FPIR = share of non-mated probes whose best gallery score is "
            "above the threshold (set from the non-mated scores), DIR = share of mated probes whose identity is rank 1 "
            "with a score above it")
FPIRS = (1e-2, 1e-1)
CURVE_FPIRS = (1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1, 2e-1, 5e-1)  # a DIR-vs-FPIR curve for a figure


def watch_list(identities, seed: int) -> dict:
    """The split of steps 1-2: ``gallery`` (image index per enrolled identity), ``mated`` and ``nonmated`` (probe
    image indices, ascending), ``enrolled`` (the enrolled identity names, gallery order), and for scoring ``codes``
    (identity code per image, names sorted) and ``gallery_codes`` (the code of each gallery entry, ascending)."""
    ids = np.asarray(identities)
    names, codes = np.unique(ids, return_inverse=True)  # sorted names
    counts = np.bincount(codes, minlength=len(names))
    rng = np.random.default_rng(seed)
    eligible = np.flatnonzero(counts >= 2)
    enrolled = np.sort(rng.permutation(eligible)[:len(eligible) // 2])  # name order from here on
    if len(enrolled) == 0:
        raise ValueError("open-set identification needs at least two identities with two or more images")
    by_identity = np.argsort(codes, kind="stable")  # each identity's images in list order, identities in name order
    starts = np.concatenate(([0], np.cumsum(counts)))
    gallery = np.array([by_identity[starts[c] + rng.integers(counts[c])] for c in enrolled], dtype=np.int64)
    is_enrolled = np.zeros(len(names), dtype=bool)
    is_enrolled[enrolled] = True
    probe = np.ones(len(ids), dtype=bool)
    probe[gallery] = False
    mated = np.flatnonzero(probe & is_enrolled[codes])
    nonmated = np.flatnonzero(~is_enrolled[codes])
    if len(nonmated) == 0:
        raise ValueError("open-set identification needs non-enrolled identities (non-mated probes)")
    return {"gallery": gallery, "mated": mated, "nonmated": nonmated, "enrolled": names[enrolled].tolist(),
            "codes": codes, "gallery_codes": enrolled}


def gallery_scores(features, probes, gallery, block: int = 4096) -> np.ndarray:
    """Cosine similarity of each probe image to each gallery image (probes x gallery), in float64."""
    f = unit_rows(features, np.float64)
    g = f[gallery]
    return np.concatenate([f[probes[lo:lo + block]] @ g.T for lo in range(0, len(probes), block)]) \
        if len(probes) else np.zeros((0, len(gallery)))


def fpir_threshold(nonmated_best: np.ndarray, fpir: float) -> float:
    """The lowest threshold from the non-mated best scores with FPIR <= ``fpir`` (step 4); -inf accepts all."""
    k = int(np.floor(fpir * len(nonmated_best) + 1e-9))  # + 1e-9: 0.29 * 100 is 28.999999999999996
    if k >= len(nonmated_best):
        return -np.inf
    return float(np.sort(nonmated_best)[::-1][k])


def open_set(features: np.ndarray, identities, seed: int, fpirs=FPIRS, curve=CURVE_FPIRS) -> dict:
    """DIR at each FPIR of the watch-list protocol (module docstring), as a JSON-ready dict."""
    split = watch_list(identities, seed)
    codes, gallery = split["codes"], split["gallery"]
    own = np.searchsorted(split["gallery_codes"], codes[split["mated"]])  # each mated probe's gallery column
    own_score, mated_best = np.empty(len(own)), np.empty(len(own))
    nonmated_best = np.empty(len(split["nonmated"]))
    u = unit_rows(features, np.float64)  # gallery_scores' cosine, normalised once for every block
    g = u[gallery].T
    block = 4096  # probes x gallery scores a block at a time: all at once were 12 GB at 200k images
    for lo in range(0, len(own), block):
        sim = u[split["mated"][lo:lo + block]] @ g
        own_score[lo:lo + block] = sim[np.arange(len(sim)), own[lo:lo + block]]
        mated_best[lo:lo + block] = sim.max(axis=1)
    for lo in range(0, len(nonmated_best), block):
        nonmated_best[lo:lo + block] = (u[split["nonmated"][lo:lo + block]] @ g).max(axis=1)
    rank1 = own_score >= mated_best

    def at(f):
        t = fpir_threshold(nonmated_best, f)
        dir_ = float(np.mean(rank1 & (own_score > t))) if len(own) else 0.0
        return t, float(np.mean(nonmated_best > t)), dir_

    main = {f"{f:g}": at(f) for f in fpirs}
    return {
        "protocol": PROTOCOL,
        "seed": int(seed),
        "n_enrolled": len(gallery),
        "n_mated": len(split["mated"]),
        "n_nonmated": len(split["nonmated"]),
        "dir_at_fpir": {k: v[2] for k, v in main.items()},
        "threshold_at_fpir": {k: v[0] for k, v in main.items()},
        "fpir_achieved": {k: v[1] for k, v in main.items()},
        "rank1_mated": float(np.mean(rank1)) if len(own) else 0.0,
        "curve": {"fpir": [at(f)[1] for f in curve], "dir": [at(f)[2] for f in curve], "target_fpir": list(curve)},
    }

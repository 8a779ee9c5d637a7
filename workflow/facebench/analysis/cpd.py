"""Coherent Point Drift (pycpd) between two embeddings of the same faces: high resolution vs degraded (HR -> 32 ->
HR), the resolution seed's question "are they in the same space, and does a transformation close the gap?".

- ``affine``: pycpd's affine CPD on the two sets' top ``dims`` (32) shared principal axes: pycpd builds M x N x D
  arrays, 4 GB for 1,000 points of a 512-d embedding (measured: a 7.9 GB job), 256 MB at 32 axes.
- ``rigid``: pycpd's rigid CPD (rotation, scale, translation) supports 2-D and 3-D point sets only, so it runs on the
  two sets projected onto their 3 shared principal axes; the JSON says so.
- ``linear-map``: the supervised bound: a least-squares affine map fitted with the true correspondences on half of
  the faces and measured on the other half. CPD never sees the correspondences (it is class and pair agnostic).

The gap is the cosine distance between each face's two embeddings, before and after the source set is moved. CPD is
O(N M) per iteration, so both sets are subsampled to ``points`` faces with a seed, and it registers the embeddings
L2-normalised (where verification compares them): the raw features of heads without normalisation have norms in the
hundreds, where CPD's Gaussians underflowed to NaN. A registration that still ends non-finite is recorded as such.
"""
from __future__ import annotations

import numpy as np

from facebench.evaluate.scores import unit_rows


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 1.0 - np.einsum("ij,ij->i", unit_rows(a), unit_rows(b))


def register(source: np.ndarray, target: np.ndarray, kind: str, max_iterations: int = 100,
             tolerance: float = 1e-5) -> tuple[np.ndarray, dict]:
    """Move ``source`` onto ``target`` with CPD; returns the moved source and the fitted parameters."""
    from pycpd import AffineRegistration, RigidRegistration

    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    if kind == "rigid":
        reg = RigidRegistration(X=target, Y=source, max_iterations=max_iterations, tolerance=tolerance)
        moved, (s, rot, t) = reg.register()
        params = {"scale": float(s), "rotation": rot.tolist(), "translation": np.ravel(t).tolist()}
    elif kind == "affine":
        reg = AffineRegistration(X=target, Y=source, max_iterations=max_iterations, tolerance=tolerance)
        moved, (b, t) = reg.register()
        params = {"matrix_norm": float(np.linalg.norm(b)), "translation_norm": float(np.linalg.norm(t))}
    else:
        raise ValueError(f"CPD kind must be 'rigid' or 'affine', got {kind!r}")
    return moved, {**params, "iterations": int(reg.iteration), "sigma2": float(reg.sigma2)}


def shared_pca(a: np.ndarray, b: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Both sets projected on the principal axes of their union (so one space holds both)."""
    both = np.concatenate([a, b])
    mean = both.mean(axis=0)
    _, _, vt = np.linalg.svd(both - mean, full_matrices=False)
    return (a - mean) @ vt[:dims].T, (b - mean) @ vt[:dims].T


def linear_map_gap(source: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Held-out cosine gaps after a least-squares affine map source -> target fitted on the other half.

    Only each half is made float64, when it is used: float64 copies of all of both (0.8 GB each at 200k x 512) took
    the step to 4.1 GB (bench/scale.py), and a half cast is the same numbers as the half of a cast."""
    n = len(source)
    order = rng.permutation(n)
    fit, held = order[: n // 2], order[n // 2:]
    x = np.column_stack([np.asarray(source[fit], np.float64), np.ones(len(fit))])
    coef, *_ = np.linalg.lstsq(x, np.asarray(target[fit], np.float64), rcond=None)
    del x
    moved = np.column_stack([np.asarray(source[held], np.float64), np.ones(len(held))]) @ coef
    return cosine_distance(moved, target[held])


def summary(d: np.ndarray, bins: np.ndarray) -> dict:
    return {"n": int(len(d)), "mean": float(d.mean()), "median": float(np.median(d)),
            "histogram": np.histogram(d, bins=bins)[0].tolist()}


def _registered(lo: np.ndarray, hi: np.ndarray, kind: str, max_iterations: int, bins: np.ndarray, space: str) -> dict:
    """The gap in a registration's own space, before and after it (``converged: false`` if it ended non-finite)."""
    moved, params = register(lo, hi, kind, max_iterations)
    out = {"before": summary(cosine_distance(lo, hi), bins), "space": space, **params}
    if not np.isfinite(moved).all():
        return {**out, "converged": False, "mean": None, "median": None, "histogram": [0] * (len(bins) - 1)}
    return {**out, "converged": True, **summary(cosine_distance(moved, hi), bins)}


def embedding_gap(high: np.ndarray, degraded: np.ndarray, *, points: int = 1000, seed: int = 0,
                  max_iterations: int = 100, dims: int = 32) -> dict:
    """The cosine gap between the two embeddings of each face, before and after each way of closing it."""
    rng = np.random.default_rng(seed)
    n = len(high)
    pick = np.sort(rng.choice(n, size=min(points, n), replace=False))
    hi, lo = unit_rows(np.asarray(high)[pick]), unit_rows(np.asarray(degraded)[pick])
    bins = np.linspace(0.0, 2.0, 201)  # 0.01 wide: the gaps of models on near-HR inputs are a few hundredths
    out = {"points": int(len(pick)), "of": int(n), "seed": seed, "bins": bins.tolist(),
           "before": summary(cosine_distance(lo, hi), bins)}
    k = min(dims, hi.shape[1])
    out["affine"] = _registered(*shared_pca(lo, hi, k), "affine", max_iterations, bins,
                                f"{k} shared principal axes of {hi.shape[1]}")
    out["rigid"] = _registered(*shared_pca(lo, hi, 3), "rigid", max_iterations, bins, "3 shared principal axes")
    # the map is cheap, so it sees every face (not the CPD subsample): with d + 1 unknowns per output, half of 1,000
    # faces overfits a 128-d map, and its held-out gap measured the fit's variance rather than the gap
    out["linear-map"] = {**summary(linear_map_gap(np.asarray(degraded), np.asarray(high), rng), bins),
                         "space": f"full ({hi.shape[1]}-d)",
                         "fitted_on": f"half of all {n} faces, with correspondences", "measured_on": "the other half"}
    return out

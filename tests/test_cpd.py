"""CPD (pycpd) recovers known transforms, and the embedding-gap report measures what it claims."""
from __future__ import annotations

import numpy as np
from facebench.analysis import cpd
from scipy.spatial.transform import Rotation


def test_rigid_cpd_recovers_a_known_rotation_and_scale():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(300, 3))
    rot = Rotation.from_euler("xyz", [20, -15, 30], degrees=True).as_matrix()
    # source = target moved by the inverse transform; registering it back must find scale 1/0.8 and rot^T
    source = 0.8 * (target - 0.5) @ rot.T
    moved, params = cpd.register(source, target, "rigid", max_iterations=200, tolerance=1e-10)
    assert np.abs(moved - target).max() < 1e-3
    assert abs(params["scale"] - 1 / 0.8) < 1e-3
    assert np.allclose(source @ np.array(params["rotation"]) * params["scale"] + params["translation"], target,
                       atol=1e-3)


def test_affine_cpd_recovers_a_known_linear_map_in_many_dimensions():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(400, 6))
    a = np.eye(6) + 0.2 * rng.normal(size=(6, 6))
    source = target @ np.linalg.inv(a) + 0.3
    moved, _ = cpd.register(source, target, "affine", max_iterations=300, tolerance=1e-10)
    assert np.abs(moved - target).max() < 1e-2


def test_embedding_gap_closes_a_linear_distortion():
    """A degraded embedding that is a linear distortion of the high-resolution one: the supervised map removes the
    gap entirely, affine CPD most of it, and the report carries its sizes."""
    rng = np.random.default_rng(2)
    high = rng.normal(size=(500, 8))
    degraded = high @ (np.eye(8) + 0.5 * rng.normal(size=(8, 8))) + 0.2
    gap = cpd.embedding_gap(high, degraded, points=300, seed=0, max_iterations=200)
    assert gap["points"] == 300 and gap["of"] == 500
    assert gap["linear-map"]["mean"] < 1e-6 < gap["before"]["mean"]
    assert gap["affine"]["mean"] < 0.25 * gap["before"]["mean"]
    assert sum(gap["before"]["histogram"]) == 300 and len(gap["bins"]) == 201
    assert gap["rigid"]["space"] == "3 shared principal axes"


def test_embedding_gap_subsample_is_seeded():
    rng = np.random.default_rng(3)
    high = rng.normal(size=(200, 5))
    low = high + 0.1 * rng.normal(size=(200, 5))
    a = cpd.embedding_gap(high, low, points=50, seed=7, max_iterations=20)
    b = cpd.embedding_gap(high, low, points=50, seed=7, max_iterations=20)
    assert a == b


def test_large_norm_high_dimensional_embeddings_register_on_32_axes_without_nan():
    """Unnormalised heads give norms in the hundreds (CPD's Gaussians underflowed to NaN on them), and a 512-d
    affine CPD would build 4 GB arrays: the gap is computed on unit vectors, affine on 32 shared axes."""
    rng = np.random.default_rng(3)
    high = 300 * rng.normal(size=(200, 512))
    degraded = high + 60 * rng.normal(size=(200, 512))
    gap = cpd.embedding_gap(high, degraded, points=150, seed=0)
    assert gap["affine"]["space"] == "32 shared principal axes of 512" and gap["affine"]["converged"]
    assert np.isfinite(gap["affine"]["mean"]) and np.isfinite(gap["rigid"]["mean"])
    assert gap["affine"]["mean"] < gap["affine"]["before"]["mean"]

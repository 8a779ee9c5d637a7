"""The report's figures (facebench.report.figures): each is a PNG, drawn in the report's one style without changing
the caller's; the DET is drawn on normal-deviate axes; the CMC refuses an empty input, naming it."""
from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from facebench.evaluate.measures import det_points
from facebench.report import figures
from scipy.stats import norm

PNG = b"\x89PNG\r\n\x1a\n"


def _roc(seed=0, n=200):
    rng = np.random.default_rng(seed)
    fpr = np.concatenate([[0.0], np.sort(rng.uniform(0, 1, n)), [1.0]])
    return fpr, np.sqrt(fpr)


def _is_png(data: bytes) -> bool:
    return isinstance(data, bytes) and data.startswith(PNG) and len(data) > 1000


def test_every_statistical_figure_is_a_png_and_leaves_the_global_style_alone():
    rng = np.random.default_rng(1)
    fpr, tpr = _roc()
    det = det_points(fpr, tpr, 100, 100)
    before = {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}
    drawn = {
        "roc": figures.roc_figure([{"label": "a", "fpr": fpr, "tpr": tpr}, {"label": "b", "fpr": fpr, "tpr": tpr ** 2,
                                                                            "ls": "--", "lw": 1.1}]),
        "det": figures.det_figure([{"label": "a", "probit_fmr": det["probit_fmr"], "probit_fnmr": det["probit_fnmr"]},
                                   {"label": "b", "fmr": det["fmr"], "fnmr": det["fnmr"], "clip": det["clip"]}]),
        "cmc": figures.cmc_figure([{"label": "a", "cmc": np.linspace(0.5, 0.9, 20)}, {"label": "b", "cmc": [0.4]}]),
        "heatmap": figures.benchmark_heatmap(pd.DataFrame({"lfw / view2": [0.99, 0.9], "calfw / calfw": [0.9, np.nan]},
                                                          index=["m1", "m2"])),
        "distances": figures.distance_histograms_figure([{"title": "m", "bins": np.linspace(0, 2, 21),
                                                          "intra": rng.integers(0, 9, 20),
                                                          "inter": rng.integers(0, 30, 20)}] * 2),
        "tsne": figures.tsne_figure([{"title": "m", "points": rng.normal(size=(30, 2)),
                                      "identity": np.repeat(["x", "y", "z"], 10)}] * 2),
    }
    assert all(_is_png(v) for v in drawn.values()), [k for k, v in drawn.items() if not _is_png(v)]
    after = {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}
    assert [k for k in before if before[k] != after[k]] == []


def test_one_style_is_applied_to_every_figure():
    rc = figures._theme_rc()
    assert rc and rc.get("axes.grid") is True  # seaborn's whitegrid, from THEME alone
    seen = {}

    @figures.styled
    def probe():
        seen.update(grid=matplotlib.rcParams["axes.grid"], face=matplotlib.rcParams["axes.facecolor"])

    probe()
    assert seen == {"grid": True, "face": rc.get("axes.facecolor", matplotlib.rcParams["axes.facecolor"])}


def test_det_coordinates_are_the_normal_deviates_of_the_clipped_rates():
    fpr, tpr = _roc(2)
    n_neg, n_pos = 150, 120
    det = det_points(fpr, tpr, n_neg, n_pos)
    c_fmr, c_fnmr = 0.5 / n_neg, 0.5 / n_pos
    expected = (norm.ppf(np.clip(fpr, c_fmr, 1 - c_fmr)), norm.ppf(np.clip(1 - tpr, c_fnmr, 1 - c_fnmr)))
    # as the verify rule stores them (det_probit_*), and recomputed from the rates
    for curve in ({"probit_fmr": det["probit_fmr"], "probit_fnmr": det["probit_fnmr"]},
                  {"fmr": det["fmr"], "fnmr": det["fnmr"], "clip": det["clip"]}):
        x, y = figures.det_coordinates(curve)
        np.testing.assert_allclose(x, expected[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(y, expected[1], rtol=1e-12, atol=1e-12)
    assert np.isfinite(x).all() and np.isfinite(y).all()  # the clip: a rate of 0 or 1 still has a place


def test_det_ticks_sit_at_the_normal_deviates_of_the_rates_they_name():
    positions, labels = figures.det_ticks(norm.ppf(1e-3) - 0.01, norm.ppf(0.5))
    rates = np.array([float(t) / 100 for t in labels])
    np.testing.assert_allclose(positions, norm.ppf(rates), rtol=1e-12)
    assert labels[0] == "0.1" and "10" in labels and all(r <= 0.5 for r in rates)


def test_empty_inputs_are_refused_clearly():
    with pytest.raises(ValueError, match="no CMC curve"):
        figures.cmc_figure([])
    with pytest.raises(ValueError, match=r"empty CMC for \['a'\]"):
        figures.cmc_figure([{"label": "a", "cmc": []}])
    with pytest.raises(ValueError, match="no DET curve"):
        figures.det_figure([])
    with pytest.raises(ValueError, match="empty table"):
        figures.benchmark_heatmap(pd.DataFrame())


def test_the_heatmap_colour_scale_ends_at_an_accuracy_of_one():
    assert figures.accuracy_limits(pd.DataFrame({"a": [0.9853]})) == (0.9853, 1.0)  # one cell: not 0.90-1.05
    assert figures.accuracy_limits(pd.DataFrame({"a": [0.99, np.nan], "b": [0.8, 0.95]})) == (0.8, 1.0)
    assert figures.accuracy_limits(pd.DataFrame({"a": [1.0]})) == (0.95, 1.0)  # all perfect: still a scale

"""Published LFW ROC files in their several layouts, read the same way; real ones from ../shared/data."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import LFW
from facebench.data.published_roc import PublishedRocError, read_published_roc

CURVE = [(0.0, 0.0), (0.01, 0.6), (0.1, 0.9), (1.0, 1.0)]  # (fpr, tpr)


@pytest.mark.parametrize("text", [
    "".join(f"{t} {f}\n" for f, t in CURVE),  # TPR first, spaces
    "".join(f"{f},{t}\n" for f, t in CURVE),  # FPR first, commas
    "TP\tFP\n" + "".join(f"{t}\t{f}\n" for f, t in CURVE),  # a header names the columns
    "% false positive rate; true positive rate\n" + "".join(f"{f}; {t}\n" for f, t in CURVE) + "0.5 NaN\n",
])
def test_every_layout_gives_the_same_curve(tmp_path, text):
    f = tmp_path / "method.txt"
    f.write_text(text)
    r = read_published_roc(f)
    assert r["label"] == "method"
    assert np.allclose(r["fpr"], [c[0] for c in CURVE]) and np.allclose(r["tpr"], [c[1] for c in CURVE])


@pytest.mark.parametrize("text, match", [
    ("0.5\n0.6\n", "fewer than two"),
    ("1 2\n3 4\n", "outside"),
    ("0.1 0.2\nset size .75,1\n", "line 2"),
])
def test_unreadable_files_are_named(tmp_path, text, match):
    f = tmp_path / "bad.txt"
    f.write_text(text)
    with pytest.raises(PublishedRocError, match=match):
        read_published_roc(f)


@pytest.mark.skipif(not (LFW / "published-roc").is_dir(), reason=f"{LFW}/published-roc is absent")
def test_the_shipped_curves_lie_above_the_diagonal():
    for name in ("deepface_ensemble.txt", "dlib_LFW_roc_curve.txt", "DeepID3_arXiv_1502.00873.txt",
                 "Haejong_Milanfar_LARK_supervised.txt", "LFW_ROC_SFRD+PMML.txt"):
        r = read_published_roc(LFW / "published-roc" / name)
        auc = np.trapezoid(np.r_[0, r["tpr"], 1], np.r_[0, r["fpr"], 1])
        assert 0.8 < auc <= 1.0, (name, auc)

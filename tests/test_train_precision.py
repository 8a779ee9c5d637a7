"""bench/train_precision.py: the profile copy changes only train.amp, and the side-by-side table compares the same
evaluation of the same model (so the 0.5 pp verdict of issue 22's target 4 cannot rot unnoticed)."""
import csv
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (ROOT / "bench" / "train_precision.py").exists(),
                                reason="no bench/ in this checkout")
sys.path.insert(0, str(ROOT / "bench"))


def test_the_copy_sets_amp_on_every_trained_model_and_nothing_else():
    from train_precision import trained_models, with_amp

    config = yaml.safe_load((ROOT / "config" / "lfw-mini.yaml").read_text())
    copy = with_amp(config, "bf16")
    trained = trained_models(config)
    assert "pretrained" not in trained and "sphereface" in trained and "triplet" in trained
    for name, spec in copy["models"].items():
        if name in trained:
            assert spec["train"]["amp"] == "bf16"
            assert {k: v for k, v in spec["train"].items() if k != "amp"} == \
                {k: v for k, v in config["models"][name]["train"].items() if k != "amp"}
        else:
            assert spec == config["models"][name]
    assert {k: v for k, v in copy.items() if k != "models"} == {k: v for k, v in config.items() if k != "models"}
    assert "amp" not in config["models"]["sphereface"]["train"]  # the profile itself is left as it was


def test_the_table_pairs_plain_grid_accuracies_and_flags_a_drop_over_half_a_point(tmp_path):
    from train_precision import accuracies, compare

    def summary(folder, rows):
        folder.mkdir()
        with (folder / "summary.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, ["model", "alignment", "protocol", "features", "threshold_search", "metric", "value"])
            w.writeheader()
            for model, features, search, metric, value in rows:
                w.writerow({"model": model, "alignment": "provided", "protocol": "devtest", "features": features,
                            "threshold_search": search, "metric": metric, "value": value})
        return folder

    fp32 = summary(tmp_path / "fp32", [
        ("a", "plain", "grid", "accuracy", 0.850), ("a", "plain", "grid", "auc", 0.9),
        ("a", "flip-concat", "grid", "accuracy", 0.99), ("b", "plain", "grid", "accuracy", 0.800),
        ("pretrained", "plain", "grid", "accuracy", 0.98)])
    bf16 = summary(tmp_path / "bf16", [
        ("a", "plain", "exact", "accuracy", 0.5), ("a", "plain", "grid", "accuracy", 0.846),
        ("b", "plain", "grid", "accuracy", 0.790)])
    rows = compare(accuracies(fp32, ["a", "b"]), accuracies(bf16, ["a", "b"]))
    assert set(rows) == {"a provided/devtest", "b provided/devtest"}
    assert rows["a provided/devtest"] == {"fp32": 85.0, "amp": 84.6, "diff_pp": -0.4, "holds": True}
    assert rows["b provided/devtest"] == {"fp32": 80.0, "amp": 79.0, "diff_pp": -1.0, "holds": False}
    missing = compare({"a": {"provided/devtest": 0.85}}, {})
    assert missing["a provided/devtest"]["holds"] is None  # a model the other run lacks is shown, never counted

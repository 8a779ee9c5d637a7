"""The seed tables colour a difference by whether it is better for that metric, not by its sign."""
from __future__ import annotations

from facebench.report.build import tone


def test_higher_accuracy_is_better_and_higher_std_is_worse():
    assert tone("accuracy", 0.01) == "better" and tone("accuracy", -0.01) == "worse"
    assert tone("std", 0.01) == "worse" and tone("std", -0.01) == "better"
    assert tone("eer", -0.02) == "better"


def test_a_threshold_or_no_difference_has_no_tone():
    assert tone("threshold", 0.1) is None
    assert tone("accuracy", None) is None and tone("accuracy", 0.0) is None


def test_seed_rows_take_rank_metrics_from_the_rank_file_and_fall_back_through_datasets():
    from facebench.report.build import _seed_tables

    published = {"sources": {"s": {"title": "t", "file": "f"}}, "tables": [{
        "key": "k", "title": "t", "source": "s", "metrics": ["rank1", "auc_all_pairs", "accuracy"],
        "rows": [{"method": "m", "published": {"rank1": 0.7, "auc_all_pairs": 0.78},
                  "ours": {"model": "a", "dataset": ["calfw", "lfw"], "alignment": "p",
                           "protocol": ["calfw", "devtest"]}}]}]}
    verif = {("a", "lfw", "p", "devtest", "plain", "grid"): {
        "accuracy": 0.9, "n_pairs": 10, "_path": "x.json",
        "provenance": {"config": {"protocol": "devtest", "model_spec": {"train": {"dataset": "lfw",
                                                                                  "alignment": "p"}}}}}}
    ranks = {("a", "lfw", "p", "plain"): {"rank1": 0.75, "auc_all_pairs": 0.70}}
    row = _seed_tables(published, verif, ranks, "mini")[0]["rows"][0]
    cells = {c["metric"]: c for c in row["cells"]}
    assert cells["rank1"]["ours"] == 0.75 and cells["rank1"]["tone"] == "better"
    assert cells["auc_all_pairs"]["tone"] == "worse" and cells["accuracy"]["ours"] == 0.9
    assert "trained here on lfw" in row["protocol"]

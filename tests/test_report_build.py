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

    published = {"sources": {"s": {"title": "t", "authors": "a"}}, "tables": [{
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


def test_a_study_table_joins_metrics_ranks_and_training_and_marks_a_model_not_run(tmp_path):
    import numpy as np
    from facebench.io import save_npz
    from facebench.report.studies import study_sections

    roc = tmp_path / "roc.npz"
    save_npz(roc, fpr=np.array([0.0, 0.1, 1.0]), tpr=np.array([0.0, 0.8, 1.0]))
    spec = {"label": "low", "backbone": "irse8", "input": {"template": "arcface112", "size": [32, 32]}}
    verif = {("low", "lfw", "p", "devtest", "plain", "grid"): {
        "accuracy": 0.8, "std": 0.02, "auc": 0.88, "eer": 0.2, "tar_at_far": {"0.1": 0.8}, "roc_file": str(roc),
        "_path": "m.json", "provenance": {"config": {"model_spec": spec}}}}
    ranks = {("low", "lfw", "p", "plain"): {"rank1": 0.5, "_path": "r.json"}}
    runs = [{"_path": str(tmp_path / "low" / "summary.json"), "label": "low", "faces": 100,
             "spec": {"train": {"dataset": "lfw", "alignment": "lr", "epochs": 3, "init": None}},
             "final": {"val_accuracy": 0.7, "val_auc": 0.75},
             "validation": {"epochs": [{"epoch": 1, "val_accuracy": 0.6, "val_auc": 0.7},
                                       {"epoch": 2, "val_accuracy": 0.7, "val_auc": 0.75}]}}]
    studies = {"res": {"title": "T", "note": "", "models": ["low", "missing"], "dataset": "lfw",
                       "protocol": "devtest", "alignment": "p"}}
    (section,) = study_sections(studies, verif, ranks, runs)
    low, missing = section["rows"]
    assert (low["input"], low["trained_on"], low["init"], low["epochs"]) == ("32x32", "lfw / lr", "scratch", 3)
    assert (low["accuracy"], low["rank1"], low["val_accuracy"]) == (0.8, 0.5, 0.7)
    assert low["files"] == ["m.json", "r.json", runs[0]["_path"]]
    assert not missing["run"] and missing["accuracy"] is None and missing["trained_on"] == "not trained here"
    assert section["fars"] == ["0.1"] and section["roc_png"] and section["validation_png"]


def _run(tmp_path, name: str, correct, paths, dataset="lfw", protocol="view2") -> dict:
    """A metrics file's report entry whose score file lists ``paths`` and whose ROC file holds ``correct``."""
    import numpy as np
    from facebench.io import save_npz

    scores = tmp_path / f"{name}.tsv"
    scores.write_text("score\tlabel\tfold\tpath1\tpath2\n" + "".join(f"0.5\t1\t1\t{a}\t{b}\n" for a, b in paths))
    roc = tmp_path / f"{name}.roc.npz"
    save_npz(roc, fpr=np.zeros(2), tpr=np.ones(2), correct=np.asarray(correct, bool))
    return {"scores_file": str(scores), "roc_file": str(roc), "_path": f"{name}.json",
            "provenance": {"config": {"dataset": dataset, "protocol": protocol}}}


CLAIM = {"sources": {"s": {"title": "seed", "authors": "a"}},
         "claims": [{"key": "k", "source": "s", "claim": "b beats a", "kind": "better",
                     "a": {"model": "a", "dataset": "lfw", "alignment": "p", "protocol": "view2"},
                     "b": {"model": "b", "dataset": "lfw", "alignment": "p", "protocol": "view2"}}]}


def test_a_claim_is_tested_on_the_pairs_both_runs_scored(tmp_path):
    from facebench.report.build import _claims

    paths = [(f"x{i}", f"y{i}") for i in range(200)]
    a = [i % 4 != 0 for i in range(200)]  # 75% right
    b = [True] * 200
    # b dropped one pair (a failed face): the comparison leaves it out of both
    verif = {("a", "lfw", "p", "view2", "plain", "grid"): _run(tmp_path, "a", a, paths),
             ("b", "lfw", "p", "view2", "plain", "grid"): _run(tmp_path, "b", b[1:], paths[1:])}
    (row,), read = _claims(CLAIM, verif, {})
    assert row["pairs"] == 199 and row["test"]["b_only"] == 49 and row["test"]["a_only"] == 0
    assert row["verdict"].startswith("supported") and row["tone"] == "better"
    assert len(read) == 4  # both score files and both ROC files, with their sha256
    # swap the runs: the same evidence now contradicts the claim
    verif = {("a", "lfw", "p", "view2", "plain", "grid"): _run(tmp_path, "a", b, paths),
             ("b", "lfw", "p", "view2", "plain", "grid"): _run(tmp_path, "b", a, paths)}
    (row,), _ = _claims(CLAIM, verif, {})
    assert row["verdict"].startswith("contradicted") and row["tone"] == "worse"


def test_a_small_difference_is_not_significant_and_a_missing_run_is_said(tmp_path):
    from facebench.report.build import _claims

    paths = [(f"x{i}", f"y{i}") for i in range(100)]
    a = [i % 10 != 0 for i in range(100)]
    b = [i % 10 != 1 for i in range(100)]  # as accurate, on other pairs
    verif = {("a", "lfw", "p", "view2", "plain", "grid"): _run(tmp_path, "a", a, paths),
             ("b", "lfw", "p", "view2", "plain", "grid"): _run(tmp_path, "b", b, paths)}
    (row,), _ = _claims(CLAIM, verif, {})
    assert row["verdict"].startswith("not significant") and row["test"]["p_value"] == 1.0
    del verif[("b", "lfw", "p", "view2", "plain", "grid")]
    (row,), read = _claims(CLAIM, verif, {})
    assert row["verdict"] == "not run in this profile" and read == {}
    seen = []
    (row,), _ = _claims(CLAIM, verif, {}, fill=lambda ours: seen.append(ours) or "config/x.yaml fills it")
    assert row["verdict"] == "not run in this profile: config/x.yaml fills it" and seen == [CLAIM["claims"][0]["b"]]


def test_a_margin_claim_needs_the_whole_interval_below_the_margin(tmp_path):
    from facebench.report.build import _verdict

    assert _verdict("within", {}, {"interval": [-0.004, 0.008]}, 0.01)[0].startswith("supported")
    assert _verdict("within", {}, {"interval": [0.002, 0.015]}, 0.01)[0].startswith("inconclusive")
    assert _verdict("within", {}, {"interval": [0.012, 0.03]}, 0.01)[0].startswith("contradicted")


def test_runs_on_different_pairs_are_not_compared(tmp_path):
    from facebench.report.build import _claims

    paths = [("x", "y"), ("z", "w")]
    verif = {("a", "lfw", "p", "view2", "plain", "grid"): _run(tmp_path, "a", [1, 1], paths),
             ("b", "lfw", "p", "view2", "plain", "grid"): _run(tmp_path, "b", [1, 0], paths, protocol="other")}
    (row,), _ = _claims(CLAIM, verif, {})
    assert row["verdict"].startswith("not comparable")


def test_a_tiny_p_value_is_printed_in_scientific_notation_not_as_zero():
    from facebench.report.build import _p_value

    assert _p_value(3.14e-07) == "3.1e-07" and _p_value(0.0421) == "0.042" and _p_value(1.0) == "1"
    assert _p_value(None) == "—"


def test_the_zoo_table_compares_the_features_the_authors_scored_and_lists_a_model_not_run():
    from facebench.report.zoo import zoo_table

    published = {"sources": {"s": {"title": "the zoo", "url": "https://example.org/zoo"}},
                 "zoo": {"title": "Zoo", "models": [
                     {"model": "a", "source": "s", "published": {"accuracy": 0.99}, "features": "flip-sum",
                      "protocol": "LFW 10-fold"},
                     {"model": "absent", "source": "s", "published": {"accuracy": 0.98}, "protocol": "LFW"}]}}
    spec = {"model_spec": {"label": "A", "licence": "research only", "input": {"template": "box", "size": [160, 160]}},
            "alignment_spec": {"method": "box", "landmarks": "mtcnn", "margin": 14, "size": 160}}

    def metrics(acc):
        return {"accuracy": acc, "auc": 0.999, "tar_at_far": {"0.001": 0.97, "0.01": 0.99}, "_path": f"{acc}.json",
                "n_pairs": 6000, "provenance": {"config": spec}}

    key = ("a", "lfw", "box160", "view2")
    verif = {(*key, "plain", "grid"): metrics(0.985), (*key, "flip-concat", "grid"): metrics(0.987),
             (*key, "flip-sum", "grid"): metrics(0.9875),
             ("a", "calfw", "box160", "calfw", "plain", "grid"): metrics(0.5)}  # another dataset: not a zoo row
    ranks = {("a", "lfw", "box160", "plain"): {"rank1": 0.9}}
    table = zoo_table(published, verif, ranks, seed=("plain", "grid"), protocol_label=lambda m: "view2")
    row, absent = table["rows"]
    assert (row["accuracy"], row["acc_flip"], row["ours_as_published"]) == (0.985, 0.987, 0.9875)
    assert abs(row["diff"] - (0.9875 - 0.99)) < 1e-12 and row["tar"] == 0.97 and row["rank1"] == 0.9
    assert row["crop"] == "mtcnn box + 14 px margin, 160 px"  # no resize: the crop is the input
    assert row["licence"] == "research only" and row["url"] == "https://example.org/zoo"
    assert not absent["run"] and absent["label"] == "absent"
    from facebench.report.zoo import crop_label
    assert crop_label({"method": "landmarks", "landmarks": "provided"},
                      {"input": {"template": "arcface112", "size": [32, 32]}}).endswith("resized to 32x32")
    assert zoo_table({"sources": {}}, verif, ranks, seed=("plain", "grid"), protocol_label=str) is None


def test_every_zoo_entry_names_a_model_of_the_zoo_profile_and_a_source_with_an_address():
    import yaml
    from conftest import ROOT

    published = yaml.safe_load((ROOT / "report/published.yaml").read_text())
    zoo = yaml.safe_load((ROOT / "config/zoo.yaml").read_text())
    entries = published["zoo"]["models"]
    assert {e["model"] for e in entries} == set(zoo["models"])  # every zoo model has its published figure
    for e in entries:
        assert published["sources"][e["source"]].get("url", "").startswith("https://"), e["source"]
        assert 0.5 < e["published"]["accuracy"] <= 1.0 and e.get("features", "plain") in zoo["verification"]["features"]
    for name, spec in zoo["models"].items():
        assert spec.get("licence"), f"config/zoo.yaml models.{name} states no licence"


def test_the_report_draws_det_and_cmc_and_tabulates_open_set_and_skips_a_roc_file_without_det_arrays(tmp_path):
    import json
    from pathlib import Path

    import numpy as np
    from facebench.cli import main
    from facebench.evaluate.openset import PROTOCOL
    from facebench.io import save_npz
    from facebench.report.build import build_report

    root = Path(__file__).resolve().parents[1]
    rng = np.random.default_rng(3)
    label = np.tile(np.repeat([1, 0], 10), 10)
    score = np.where(label == 1, rng.normal(0.6, 0.15, 200), rng.normal(0.2, 0.15, 200))
    (tmp_path / "s.tsv").write_text("score\tlabel\tfold\tpath1\tpath2\n" + "".join(
        f"{s:.6f}\t{y}\t{i // 20 + 1}\ta/{i}.jpg\tb/{i}.jpg\n" for i, (s, y) in enumerate(zip(score, label))))

    def meta(rule, model, **config):
        return {"provenance": {"rule": rule, "profile": "test", "code": {"commit": None, "dirty": False}, "config": {
            "model": model, "dataset": "lfw", "alignment": "provided", "features": "plain", **config}}}

    def report(name, metrics):
        out = tmp_path / f"{name}.html"
        build_report(metrics, published=str(root / "report/published.yaml"),
                     template=str(root / "report/templates/index.html.j2"), spec={"profile": "test"}, out=str(out))
        return out.read_text()

    new = tmp_path / "new.json"  # the verify CLI writes the DET arrays into the ROC file
    main(["eval-pairs", str(tmp_path / "s.tsv"), "--out", str(new), "--roc", str(tmp_path / "new.roc.npz"), "--meta",
          json.dumps(meta("verify", "new", protocol="view2", threshold_search="grid"))])
    old = tmp_path / "old.json"  # an older ROC file: fpr and tpr only
    main(["eval-pairs", str(tmp_path / "s.tsv"), "--out", str(old), "--roc", str(tmp_path / "old.roc.npz"), "--meta",
          json.dumps(meta("verify", "old", protocol="view2", threshold_search="grid"))])
    roc = np.load(tmp_path / "old.roc.npz")
    save_npz(tmp_path / "old.roc.npz", fpr=roc["fpr"], tpr=roc["tpr"])
    rank = tmp_path / "rank-plain.json"
    rank.write_text(json.dumps({**meta("rank", "new"), "rank1": 0.5, "rank5": 0.7, "n_probes": 40,
                                "cmc": list(np.linspace(0.5, 0.9, 20)),
                                "open_set": {"protocol": PROTOCOL, "seed": 0, "n_enrolled": 5, "n_mated": 10,
                                             "n_nonmated": 20, "dir_at_fpir": {"0.01": 0.25, "0.1": 0.4375},
                                             "fpir_achieved": {"0.01": 0.0, "0.1": 0.1}, "rank1_mated": 0.6}}))

    html = report("all", [str(old), str(new), str(rank)])
    assert 'id="det-figure"' in html and 'id="cmc-figure"' in html and 'id="benchmark-heatmap"' in html
    table = html.split('id="open-set-table"')[1].split("</table>")[0]
    assert "DIR@FPIR=0.01" in table and "0.4375" in table and "5 / 10 / 20" in table
    assert PROTOCOL.split(":")[0] in html.split('id="open-set"')[1]
    # older files only: no DET, no CMC, no open-set table, and no failure
    html = report("old", [str(old)])
    assert 'id="roc"' in html and 'id="det-figure"' not in html and 'id="cmc-figure"' not in html
    assert 'id="open-set-table"' not in html

"""Integration: the whole DAG on a small real subset of ../shared/data/lfw (600 View 2 pairs, 30 identities)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import SHARED, needs_shared
from smoke import absolute_config, snakemake

pytestmark = [pytest.mark.integration, needs_shared]


def metrics(work: Path, alignment: str, name: str) -> dict:
    return json.loads((work / "results/metrics/pretrained/lfw" / alignment / f"{name}.json").read_text())


def test_the_dag_runs_to_a_report(smoke_run):
    work = smoke_run.work
    html = (work / "report/index.html").read_text()
    assert "Table 1 of the SphereFace course report" in html
    assert html.count('<tr>\n      <td class="text">') >= 6  # seed-table rows, run or not
    manifest = json.loads((work / "report/manifest.json").read_text())
    # the pretrained model: 3 alignments x 6 files; the 11 trained models: 1 alignment x 6 files
    assert manifest["profile"] == "smoke" and len(manifest["inputs"]["metrics"]) == 18 + 11 * 6
    assert "Landmarks: MTCNN against the provided points" in html
    assert len(manifest["inputs"]["figures"]) == 1


def test_real_numbers_are_sane(smoke_run):
    work = smoke_run.work
    provided, center = metrics(work, "provided", "view2-plain-grid"), metrics(work, "center", "view2-plain-grid")
    assert provided["n_pairs"] == 600 and provided["n_folds"] == 10
    assert provided["accuracy"] > 0.96  # ~98.7% on full View 2
    assert center["accuracy"] < provided["accuracy"] - 0.02  # no alignment costs clearly
    assert provided["auc"] > 0.99
    assert metrics(work, "provided", "rank-plain")["rank1"] > metrics(work, "center", "rank-plain")["rank1"]
    assert provided["provenance"]["rule"] == "verify" and provided["provenance"]["inputs"]
    mtcnn = metrics(work, "mtcnn", "view2-plain-grid")
    assert mtcnn["accuracy"] > center["accuracy"] + 0.02  # MTCNN alignment lands near the provided one
    study = json.loads((work / "results/landmarks/lfw/mtcnn-vs-provided.json").read_text())
    assert study["distance"]["mean"] < 5.0 and study["counts"]["compared"] >= study["images"] - 2


def test_every_registered_loss_trains_and_is_evaluated(smoke_run):
    from facebench import losses
    from facebench.io import read_tsv

    work, cfg = smoke_run.work, smoke_run.config
    models = yaml.safe_load(cfg.read_text())["models"]
    trained = {spec["train"]["loss"]: name for name, spec in models.items() if "train" in spec}
    assert set(trained) == set(losses.names())
    for loss, name in trained.items():
        summary = json.loads((work / f"results/train/{name}/summary.json").read_text())
        assert summary["loss"] == loss and summary["steps"] == 4 and summary["identities"] == 16
        header, rows = read_tsv(work / f"results/train/{name}/log.tsv")
        assert [int(r[0]) for r in rows] == [1, 2, 3, 4]
        assert all(float(r[header.index("loss")]) == float(r[header.index("loss")]) for r in rows)  # no NaN
        m = json.loads((work / f"results/metrics/{name}/lfw/provided/view2-plain-grid.json").read_text())
        assert m["n_pairs"] == 600 and 0.3 < m["accuracy"] <= 1.0
        assert m["provenance"]["config"]["model_spec"]["train"]["loss"] == loss
    html = (work / "report/index.html").read_text()
    assert "Training: every trained model" in html and html.count("data:image/png;base64,") >= 4
    assert "trained here on lfw (provided alignment)" in html  # trained rows say what they were trained on
    manifest = json.loads((work / "report/manifest.json").read_text())
    assert len(manifest["inputs"]["training"]) == 2 * len(trained) and len(manifest["inputs"]["tsne"]) == len(trained)


def test_every_analysis_rule_runs_and_reaches_the_report(smoke_run):
    work, cfg = smoke_run.work, smoke_run.config
    evaluated = {e["model"] for e in yaml.safe_load(cfg.read_text())["evaluate"]}
    manifest = json.loads((work / "report/manifest.json").read_text())
    files = manifest["inputs"]["analysis"]
    kinds = {kind: [f for f in files if f"/analysis/{kind}/" in f] for kind in
             ("kernels", "scorers", "embedding-stats", "cpd")}
    # every evaluated model, on its alignments as cut (the pretrained model has three; the degraded one has none)
    assert len(kinds["kernels"]) == len(evaluated)
    assert len(kinds["scorers"]) == len(kinds["embedding-stats"]) == len(evaluated) + 2
    assert len(kinds["cpd"]) == len(evaluated)  # provided vs provided-lr16, per model evaluated on provided
    scorer = json.loads((work / "results/analysis/scorers/pretrained/lfw/provided/view2.json").read_text())
    assert set(scorer["scorers"]) == {"cosine", "euclidean", "chi2-svm", "weighted-l1", "joint-bayesian"}
    assert scorer["scorers"]["cosine"]["accuracy"] > 0.96 and scorer["scorers"]["joint-bayesian"]["auc"] > 0.95
    assert all(fit["held_out_identities"] > 0 for fit in scorer["scorers"]["joint-bayesian"]["fits"])
    cpd = json.loads((work / "results/analysis/cpd/pretrained/lfw/provided-vs-provided-lr16.json").read_text())
    assert cpd["points"] == 100 and cpd["before"]["mean"] > 0.05  # 16 px faces move the embedding
    stats = json.loads((work / "results/analysis/embedding-stats/pretrained/lfw/provided.json").read_text())
    assert stats["distances"]["intra"]["mean"] < stats["distances"]["inter"]["mean"]
    html = (work / "report/index.html").read_text()
    for section in ('id="scorers-table"', 'id="stats-table"', 'id="cpd-table"', 'id="kernels-table"', 'id="sphere"',
                    'id="validation"', 'id="study-finetune-table"'):
        assert section in html, section
    study = html.split('id="study-finetune-table"')[1].split("</table>")[0]
    assert study.count("<tr>") == 4 and 'class="text missing"' not in study  # header + three models, each run


def test_a_rerun_has_nothing_to_do(smoke_run):
    work, cfg = smoke_run.work, smoke_run.config
    result = snakemake(work, cfg, "-n")
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr


def test_bad_config_is_rejected_before_any_job(tmp_path):
    cfg = absolute_config(tmp_path, edit=lambda c: c.setdefault("embed", {}).update(batch_size="sixteen"))
    result = snakemake(tmp_path, cfg, "-n")
    assert result.returncode != 0
    assert "config key embed.batch_size: 'sixteen' is not of type 'integer'" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("published_roc, message", [
    ({"methods": ["dlib_LFW_roc_curve.txt"]}, "config key report.published_roc.path: needed"),
    ({"path": str(SHARED / "lfw" / "published-roc"), "methods": ["dlib_LFW_roc_curve.txt", "no-such-method.txt"]},
     "config key report.published_roc.methods[1]: no such file"),
])
def test_a_bad_published_roc_is_rejected_before_any_job(tmp_path, published_roc, message):
    cfg = absolute_config(tmp_path, edit=lambda c: c["report"].update(published_roc=published_roc))
    result = snakemake(tmp_path, cfg, "-n")
    assert result.returncode != 0 and message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()

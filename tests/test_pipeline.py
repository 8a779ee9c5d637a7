"""Integration: the whole DAG on the smoke profile (600 View 2 pairs, 30 identities), run once per session
(tests/smoke.py). Two kinds of test here:

- plumbing (no mark): every rule runs and reaches the report, reruns do nothing, bad configs are refused. They run on
  the real LFW subset of ../shared/data where it exists, else on the dataset tests/synthetic.py generates;
- real data (``needs_shared``): accuracy and MTCNN agreement on real faces, with the real pretrained model; they skip,
  saying why, without ../shared/data.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import needs_shared
from smoke import absolute_config, data_root, snakemake

pytestmark = pytest.mark.integration


def metrics(work: Path, alignment: str, name: str) -> dict:
    return json.loads((work / "results/metrics/pretrained/lfw" / alignment / f"{name}.json").read_text())


def test_the_dag_runs_to_a_report(smoke_run):
    """Plumbing: the report and its manifest list every metrics file the profile asks for."""
    work = smoke_run.work
    html = (work / "report/index.html").read_text()
    assert "Table 1 of the SphereFace course report" in html
    assert html.count('<tr>\n      <td class="text">') >= 6  # seed-table rows, run or not
    manifest = json.loads((work / "report/manifest.json").read_text())
    # the pretrained model: 3 alignments x 6 files; its two stand-ins (ONNX, by-order: tests/standins.py) and the 12
    # trained models: 1 alignment x 6 files
    assert manifest["profile"] == "smoke" and len(manifest["inputs"]["metrics"]) == 18 + 14 * 6
    assert "Landmarks: MTCNN against the provided points" in html
    assert len(manifest["inputs"]["figures"]) == 1


@needs_shared
def test_real_numbers_are_sane(smoke_run):
    """Real data: the pretrained model's accuracy by alignment, and MTCNN's landmarks against the provided ones."""
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


def test_an_onnx_model_and_a_checkpoint_imported_by_order_reproduce_the_pretrained_model(smoke_run):
    """Plumbing: the pretrained network exported to ONNX, and saved under another container with other key names
    (tests/standins.py), go through fetch, import, embed and evaluate: the same features (within 1e-5: onnxruntime
    and the frozen torch graph order their sums differently) and the same View 2 metrics."""
    import numpy as np
    from facebench.io import load_npz

    work = smoke_run.work
    emb = {m: load_npz(work / f"results/embeddings/{m}/lfw/provided.npz")
           for m in ("pretrained", "pretrained-onnx", "pretrained-by-order")}
    for m in ("pretrained-onnx", "pretrained-by-order"):
        assert list(emb[m]["paths"]) == list(emb["pretrained"]["paths"])
        for key in ("features", "features_flip"):
            assert np.abs(emb[m][key] - emb["pretrained"][key]).max() <= 1e-5, (m, key)
        for name in ("view2-plain-grid", "view2-flip-concat-exact"):
            ours = json.loads((work / f"results/metrics/{m}/lfw/provided/{name}.json").read_text())
            assert ours["accuracy"] == metrics(work, "provided", name)["accuracy"], (m, name)
    meta = json.loads(str(emb["pretrained-onnx"]["meta"]))
    assert meta["graph"] == "onnxruntime"
    html = (work / "report/index.html").read_text()
    assert "as ONNX (stand-in)" in html and "imported by order (stand-in)" in html
    assert 'id="zoo-table"' in html  # the pretrained model is in the zoo: its row is run in every profile


def test_every_registered_loss_trains_and_is_evaluated(smoke_run):
    """Plumbing: every registered loss trains 4 steps and is evaluated (a few steps on 16 identities: no accuracy
    beyond a well-formed number)."""
    from facebench import losses
    from facebench.io import read_tsv

    work, cfg = smoke_run.work, smoke_run.config
    models = yaml.safe_load(cfg.read_text())["models"]
    trained = {spec["train"]["loss"]: name for name, spec in models.items()
               if "train" in spec and not spec["train"].get("loss_args", {}).get("focal_gamma")}
    assert set(trained) == set(losses.names())
    focal = [n for n, s in models.items() if "train" in s and s["train"].get("loss_args", {}).get("focal_gamma")]
    assert focal, "the smoke profile trains one model with the focal modifier"
    runs = [(loss, name) for loss, name in trained.items()] + [(models[n]["train"]["loss"], n) for n in focal]
    for loss, name in runs:
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
    assert len(manifest["inputs"]["training"]) == 2 * len(runs) and len(manifest["inputs"]["tsne"]) == len(runs)


def test_every_analysis_rule_runs_and_reaches_the_report(smoke_run):
    """Plumbing: every analysis rule's file for every evaluated model, and its section in the report."""
    work, cfg = smoke_run.work, smoke_run.config
    evaluated = {e["model"] for e in yaml.safe_load(cfg.read_text())["evaluate"]}
    manifest = json.loads((work / "report/manifest.json").read_text())
    files = manifest["inputs"]["analysis"]
    kinds = {kind: [f for f in files if f"/analysis/{kind}/" in f] for kind in
             ("kernels", "scorers", "embedding-stats", "cpd")}
    models = yaml.safe_load(cfg.read_text())["models"]
    # every evaluated model, on its alignments as cut (the pretrained model has three; the degraded one has none); an
    # ONNX model has no kernels to show (onnxruntime does not expose its weights)
    assert len(kinds["kernels"]) == len([m for m in evaluated if models[m]["backbone"] != "onnx"])
    assert len(kinds["scorers"]) == len(kinds["embedding-stats"]) == len(evaluated) + 2
    assert len(kinds["cpd"]) == len(evaluated)  # provided vs provided-lr16, per model evaluated on provided
    scorer = json.loads((work / "results/analysis/scorers/pretrained/lfw/provided/view2.json").read_text())
    assert set(scorer["scorers"]) == {"cosine", "euclidean", "chi2-svm", "weighted-l1", "joint-bayesian"}
    assert all(fit["held_out_identities"] > 0 for fit in scorer["scorers"]["joint-bayesian"]["fits"])
    cpd = json.loads((work / "results/analysis/cpd/pretrained/lfw/provided-vs-provided-lr16.json").read_text())
    assert cpd["points"] == 100
    html = (work / "report/index.html").read_text()
    for section in ('id="scorers-table"', 'id="stats-table"', 'id="cpd-table"', 'id="kernels-table"', 'id="sphere"',
                    'id="validation"', 'id="study-finetune-table"'):
        assert section in html, section
    study = html.split('id="study-finetune-table"')[1].split("</table>")[0]
    assert study.count("<tr>") == 4 and 'class="text missing"' not in study  # header + three models, each run


@needs_shared
def test_the_analysis_numbers_are_sane_on_real_faces(smoke_run):
    """Real data: the pretrained model's scorers, CPD and distance statistics on real faces."""
    work = smoke_run.work
    scorer = json.loads((work / "results/analysis/scorers/pretrained/lfw/provided/view2.json").read_text())
    assert scorer["scorers"]["cosine"]["accuracy"] > 0.96 and scorer["scorers"]["joint-bayesian"]["auc"] > 0.95
    cpd = json.loads((work / "results/analysis/cpd/pretrained/lfw/provided-vs-provided-lr16.json").read_text())
    assert cpd["before"]["mean"] > 0.05  # 16 px faces move the embedding
    stats = json.loads((work / "results/analysis/embedding-stats/pretrained/lfw/provided.json").read_text())
    assert stats["distances"]["intra"]["mean"] < stats["distances"]["inter"]["mean"]


def test_a_rerun_has_nothing_to_do(smoke_run):
    """Plumbing."""
    work, cfg = smoke_run.work, smoke_run.config
    result = snakemake(work, cfg, "-n")
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr


def test_bad_config_is_rejected_before_any_job(tmp_path):
    """Plumbing."""
    cfg = absolute_config(tmp_path, edit=lambda c: c.setdefault("embed", {}).update(batch_size="sixteen"))
    result = snakemake(tmp_path, cfg, "-n")
    assert result.returncode != 0
    assert "config key embed.batch_size: 'sixteen' is not of type 'integer'" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("case, message", [
    ("no path", "config key report.published_roc.path: needed"),
    ("no such method", "config key report.published_roc.methods[1]: no such file"),
])
def test_a_bad_published_roc_is_rejected_before_any_job(tmp_path, case, message):
    """Plumbing: a published ROC overlay without its folder, or naming a file that is not in it."""

    def edit(cfg):
        roc = cfg["report"]["published_roc"]  # a good one, in the folder of this session's data
        if case == "no path":
            del roc["path"]
        else:
            assert (data_root() / "lfw" / "published-roc").samefile(roc["path"])
            roc["methods"] = [roc["methods"][0], "no-such-method.txt"]

    cfg = absolute_config(tmp_path, edit=edit)
    result = snakemake(tmp_path, cfg, "-n")
    assert result.returncode != 0 and message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()

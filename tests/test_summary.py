"""The results table (facebench.report.summary): every metrics file as tidy rows, written by `facebench summary`, and
the report's benchmark table built from it."""
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from facebench.cli import main
from facebench.report.summary import COLUMNS, summary_table
from score_files import write_score_file

ROOT = Path(__file__).resolve().parents[1]




def _meta(rule: str, model="m", dataset="lfw", alignment="provided", **config) -> str:
    base = {"model": model, "dataset": dataset, "alignment": alignment}
    return json.dumps({"provenance": {"rule": rule, "profile": "test", "config": {**base, **config}}})


def _verify(tmp_path: Path, model="m", dataset="lfw", alignment="provided", protocol="view2", seed=2,
            features="plain", search="grid") -> Path:
    """A verify metrics file as the pipeline writes it (eval-pairs with intervals and the rule's provenance)."""
    d = tmp_path / "metrics" / model / dataset / alignment
    d.mkdir(parents=True, exist_ok=True)
    scores = d / f"{protocol}-{features}.tsv"
    write_score_file(scores, seed)
    out = d / f"{protocol}-{features}-{search}.json"
    main(["eval-pairs", str(scores), "--out", str(out), "--roc", str(d / f"{protocol}-{features}-{search}.roc.npz"),
          "--protocol", search, "--far", "0.001", "0.01", "--intervals",
          "--meta", _meta("verify", model, dataset, alignment, protocol=protocol, features=features,
                          threshold_search=search)])
    return out


def _rank(tmp_path: Path, **extra) -> Path:
    p = tmp_path / "metrics" / "m" / "lfw" / "provided" / "rank-plain.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    m = {"rank1": 0.81, "rank5": 0.9, "auc_all_pairs": float("nan"), "cmc": [0.81, 0.85, 0.9],
         "n_probes": 40, "features": "plain",
         "open_set": {"dir_at_fpir": {"0.01": 0.4, "0.1": 0.6}, "rank1_mated": 0.8},
         "provenance": {"rule": "rank", "code": {"commit": "abc", "dirty": False},
                        "config": {"model": "m", "dataset": "lfw", "alignment": "provided", "features": "plain",
                                   "seed": 0}}}
    m.update(extra)
    p.write_text(json.dumps(m))  # json writes the NaN as NaN, as the rank rule's write_json does
    return p


def test_a_verify_file_gives_one_row_per_metric_with_the_accuracy_interval(tmp_path):
    path = _verify(tmp_path)
    m = json.loads(path.read_text())
    df = summary_table([str(path)])
    assert list(df.columns) == COLUMNS
    assert list(df["metric"]) == ["accuracy", "std", "threshold", "auc", "eer", "tar@far=0.001", "tar@far=0.01"]
    keys = df[["model", "dataset", "alignment", "protocol", "features", "threshold_search"]].drop_duplicates()
    assert keys.values.tolist() == [["m", "lfw", "provided", "view2", "plain", "grid"]]
    assert set(df["file"]) == {str(path)} and set(df["rule"]) == {"verify"}
    v = df.set_index("metric")
    assert v.loc["accuracy", "value"] == m["accuracy"] and v.loc["eer", "value"] == m["eer"]
    assert v.loc["tar@far=0.001", "value"] == m["tar_at_far"]["0.001"]
    assert [v.loc["accuracy", "ci_low"], v.loc["accuracy", "ci_high"]] == m["accuracy_ci"]["folds"]
    assert "folds" in v.loc["accuracy", "ci_method"]
    assert v.drop("accuracy")[["ci_low", "ci_high"]].isna().all().all()  # no interval where the file has none


def test_rank_and_dev_threshold_files_give_their_metrics_and_missing_values_no_row(tmp_path):
    rank = _rank(tmp_path, rank5=None)  # a null: no row
    for protocol, seed in (("devtrain", 1), ("view2", 2)):
        write_score_file(tmp_path / f"{protocol}.tsv", seed)
    dev = tmp_path / "view2-plain-devthreshold.json"
    main(["dev-threshold", "--dev", str(tmp_path / "devtrain.tsv"), "--test", str(tmp_path / "view2.tsv"),
          "--out", str(dev), "--meta", _meta("dev_threshold", protocol="view2", dev_protocol="devtrain",
                                             features="plain")])
    df = summary_table([str(rank), str(dev)])
    r = df[df["rule"] == "rank"].set_index("metric")
    assert list(r.index) == ["rank1", "auc_all_pairs", "cmc@1", "cmc@2", "cmc@3", "dir@fpir=0.01", "dir@fpir=0.1",
                             "openset_rank1_mated"]
    assert math.isnan(r.loc["auc_all_pairs", "value"])  # NaN stays NaN
    assert r.loc["cmc@3", "value"] == 0.9 and r.loc["dir@fpir=0.1", "value"] == 0.6
    assert set(r["protocol"]) == {"identification"} and r["threshold_search"].isna().all()
    d = df[df["rule"] == "dev_threshold"].set_index("metric")
    written = json.loads(dev.read_text())
    assert set(d.index) == {"fmr", "fnmr", "hter", "threshold", "dev_fmr", "dev_fnmr", "dev_hter", "dev_eer"}
    assert d.loc["hter", "value"] == written["test"]["hter"] and d.loc["dev_eer", "value"] == written["dev"]["eer"]
    assert set(d["threshold_search"]) == {"dev:devtrain"} and set(d["protocol"]) == {"view2"}
    assert set(d["file"]) == {str(dev)}


def test_a_file_without_provenance_is_refused_naming_it(tmp_path):
    good = _rank(tmp_path)
    bad = tmp_path / "view2-plain-grid.json"
    bad.write_text(json.dumps({"accuracy": 0.9}))
    with pytest.raises(ValueError, match=r"view2-plain-grid\.json: a metrics file without provenance"):
        summary_table([str(good), str(bad)])
    bad.write_text(json.dumps({"accuracy": 0.9, "provenance": {"rule": "verify", "config": {"model": "m"}}}))
    with pytest.raises(ValueError, match=r"view2-plain-grid\.json: provenance.config lacks 'dataset'"):
        summary_table([str(bad)])


def test_the_summary_command_writes_parquet_and_csv_atomically(tmp_path):
    files = [str(_verify(tmp_path)), str(_rank(tmp_path))]
    out = tmp_path / "results"
    main(["summary", *files, "--parquet", str(out / "summary.parquet"), "--csv", str(out / "summary.csv")])
    df = pd.read_parquet(out / "summary.parquet")
    expected = summary_table(files)
    pd.testing.assert_frame_equal(df, expected)
    csv = pd.read_csv(out / "summary.csv")
    assert len(csv) == len(df) and list(csv.columns) == COLUMNS
    assert sorted(p.name for p in out.iterdir()) == ["summary.csv", "summary.parquet"]  # no temporary left behind


def _benchmark(html: str) -> str:
    return html.split('id="benchmark-table"')[1].split("</table>")[0]


def test_the_benchmark_table_is_built_from_the_summary_and_matches_the_files(tmp_path):
    from facebench.report.build import build_report

    files = [_verify(tmp_path, model="pretrained", alignment="provided", seed=3),
             _verify(tmp_path, model="pretrained", alignment="centre", seed=4),  # a second alignment: not the row's
             _verify(tmp_path, model="pretrained", dataset="calfw", alignment="provided", protocol="calfw", seed=5),
             _verify(tmp_path, model="<b>x</b>", alignment="centre", seed=6),
             _verify(tmp_path, model="pretrained", alignment="provided", features="flip-concat", seed=7)]
    summary = tmp_path / "summary.parquet"
    main(["summary", *map(str, files), "--parquet", str(summary)])
    out = tmp_path / "index.html"
    build_report(list(map(str, files)), published=str(ROOT / "report/published.yaml"),
                 template=str(ROOT / "report/templates/index.html.j2"), spec={"profile": "test"}, out=str(out),
                 manifest_out=str(tmp_path / "manifest.json"), summary=str(summary))
    table = _benchmark(out.read_text())
    head = table.split("</thead>")[0]
    assert head.index("lfw / view2") < head.index("calfw / calfw")
    rows = table.split("<tbody>")[1].split("</tr>")[:-1]
    assert len(rows) == 2
    pretrained, other = rows
    for f in (files[0], files[2]):  # the row's alignment is the first evaluated one, provided
        m = json.loads(f.read_text())
        assert f"{m['accuracy']:.4f} ± {m['std']:.4f}" in pretrained
        assert f"TAR@FAR=0.001: {m['tar_at_far']['0.001']:.4f}" in pretrained
    centre = json.loads(files[1].read_text())
    assert f"{centre['accuracy']:.4f} ± {centre['std']:.4f}" not in pretrained
    assert "provided" in pretrained.split("</td>")[0]
    assert "published 0.9878" in pretrained  # report/published.yaml's zoo figure for this model on LFW
    ours = json.loads(files[0].read_text())["accuracy"]
    assert f"ours − published {ours - 0.9878:+.4f}" in pretrained
    assert "&lt;b&gt;x&lt;/b&gt;" in other and "<b>x</b>" not in other  # escaped
    assert "not run" in other  # <b>x</b> has no calfw result
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert list(manifest["inputs"]["summary"]) == [str(summary)]
    # without the parquet the report collects the same table from the files
    build_report(list(map(str, files)), published=str(ROOT / "report/published.yaml"),
                 template=str(ROOT / "report/templates/index.html.j2"), spec={"profile": "test"},
                 out=str(tmp_path / "again.html"))
    assert _benchmark((tmp_path / "again.html").read_text()) == table


def test_the_report_tables_take_their_numbers_from_the_summary(tmp_path):
    """A value changed in the parquet (and only there) is the one both tables show: they are built from it."""
    from facebench.report.build import build_report
    from facebench.report.summary import write_summary

    files = [str(_verify(tmp_path, model="m")), str(_rank(tmp_path))]
    df = summary_table(files)
    df.loc[(df["metric"] == "accuracy") & (df["rule"] == "verify"), "value"] = 0.123456
    df.loc[(df["metric"] == "rank1") & (df["rule"] == "rank"), "value"] = 0.654321
    write_summary(df, parquet=str(tmp_path / "summary.parquet"))
    out = tmp_path / "index.html"
    build_report(files, published=str(ROOT / "report/published.yaml"),
                 template=str(ROOT / "report/templates/index.html.j2"), spec={"profile": "test"}, out=str(out),
                 summary=str(tmp_path / "summary.parquet"))
    html = out.read_text()
    experiments = html.split('id="experiments-table"')[1].split("</table>")[0]
    assert "0.1235" in experiments and "0.6543" in experiments
    assert "0.1235 ± " in _benchmark(html)


def test_a_sampled_all_pairs_auc_carries_its_interval_and_an_exact_one_none(tmp_path):
    import numpy as np
    from facebench.evaluate.identification import all_pairs_auc

    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(60), 5)
    f = rng.normal(size=(60, 16))[ids] + 1.5 * rng.normal(size=(len(ids), 16))
    exact = all_pairs_auc(f, ids)
    sampled = all_pairs_auc(f, ids, exact_pairs=10, sample_negatives=20000, seed=3)
    se = sampled["auc_all_pairs_sample"]["standard_error"]
    assert sampled["auc_all_pairs_method"] == "sampled"
    assert abs(sampled["auc_all_pairs"] - exact["auc_all_pairs"]) < 4 * se
    rows = {}
    for name, result in (("exact", exact), ("sampled", sampled)):
        df = summary_table([str(_rank(tmp_path / name, **result))])
        rows[name] = df.set_index("metric").loc["auc_all_pairs"]
    s = rows["sampled"]
    assert s["value"] == sampled["auc_all_pairs"]
    assert s["ci_low"] == pytest.approx(s["value"] - 1.96 * se)
    assert s["ci_high"] == pytest.approx(s["value"] + 1.96 * se)
    assert "sampled: 20,000 of" in s["ci_method"] and "seed 3" in s["ci_method"]
    assert pd.isna(rows["exact"]["ci_low"]) and pd.isna(rows["exact"]["ci_method"])

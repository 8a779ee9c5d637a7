"""A development protocol in the report: its threshold table, and its own pairs kept out of the results tables."""
import json
from pathlib import Path

import pytest
from facebench.cli import main
from score_files import write_score_file

ROOT = Path(__file__).resolve().parents[1]




def _meta(rule: str, **config) -> str:
    base = {"model": "m", "dataset": "lfw", "alignment": "provided"}
    return json.dumps({"provenance": {"rule": rule, "profile": "test", "config": {**base, **config}}})


def _report(tmp_path, with_dev: bool):
    metrics = []
    for protocol, seed in (("devtrain", 1), ("view2", 2)):
        write_score_file(tmp_path / f"{protocol}.tsv", seed)
        out = tmp_path / f"{protocol}-plain-grid.json"
        main(["eval-pairs", str(tmp_path / f"{protocol}.tsv"), "--out", str(out),
              "--roc", str(tmp_path / f"{protocol}.roc.npz"),
              "--meta", _meta("verify", protocol=protocol, features="plain", threshold_search="grid")])
        metrics.append(str(out))
    dev = tmp_path / "view2-plain-devthreshold.json"
    main(["dev-threshold", "--dev", str(tmp_path / "devtrain.tsv"), "--test", str(tmp_path / "view2.tsv"),
          "--out", str(dev), "--meta", _meta("dev_threshold", protocol="view2", dev_protocol="devtrain",
                                             features="plain")])
    from facebench.report.build import build_report

    out = tmp_path / "index.html"
    build_report(metrics, published=str(ROOT / "report/published.yaml"),
                 template=str(ROOT / "report/templates/index.html.j2"), spec={"profile": "test"}, out=str(out),
                 manifest_out=str(tmp_path / "manifest.json"), dev_thresholds=[str(dev)] if with_dev else [])
    return out.read_text(), json.loads(dev.read_text()), json.loads((tmp_path / "manifest.json").read_text())


def _experiment_protocols(html: str) -> list[str]:
    table = html.split('id="experiments-table"')[1].split("</table>")[0]
    return [p for p in ("devtrain", "view2") if f"test — {p}:" in table]


def test_a_development_protocol_sets_a_threshold_and_is_not_shown_as_a_result(tmp_path):
    html, dev, manifest = _report(tmp_path, with_dev=True)
    assert _experiment_protocols(html) == ["view2"]
    table = html.split('id="dev-threshold-table"')[1].split("</table>")[0]
    assert "lfw: devtrain → view2" in table
    for value in (dev["threshold"], dev["test"]["fmr"], dev["test"]["fnmr"], dev["test"]["hter"], dev["dev"]["eer"]):
        assert f"{value:.4f}" in table
    assert list(manifest["inputs"]["dev_thresholds"]) == [str(tmp_path / "view2-plain-devthreshold.json")]


def test_without_a_dev_threshold_file_both_protocols_are_results_and_there_is_no_table(tmp_path):
    html, _, _ = _report(tmp_path, with_dev=False)
    assert _experiment_protocols(html) == ["devtrain", "view2"]
    assert 'id="dev-threshold-table"' not in html


def test_a_file_of_another_rule_is_refused_naming_it(tmp_path):
    from facebench.report.devthreshold import read_dev_thresholds

    p = tmp_path / "x.json"
    p.write_text(_meta("verify", protocol="view2"))
    with pytest.raises(ValueError, match="x.json: not a dev_threshold metrics file"):
        read_dev_thresholds([str(p)], {})

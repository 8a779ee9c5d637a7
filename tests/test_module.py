"""The workflow used as a Snakemake module with a prefix (the Snakemake workflow catalog's way of reusing one):
`module facebench: snakefile: ... config: config prefix: "fb"` and `use rule * from facebench as fb_*`. Every output,
log and benchmark of the module, its report included, must land under fb/, and nothing in the outer workflow's own
results/ or report/: the commands are given folders derived from their outputs, never a spelled-out results/.

The DAG is the smoke profile cut down to about a minute on two cores: the pretrained model and one trained model,
both on the provided alignment, with the cheap analyses.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, needs_shared
from smoke import absolute_config

pytestmark = [pytest.mark.integration, needs_shared]

PREFIX = "fb"
TRAINED = "softmax"  # the one trained model kept from the smoke profile


def reduced(cfg: dict) -> None:
    """The smoke profile cut to the pretrained model and one trained model on the provided alignment."""
    cfg["models"] = {name: cfg["models"][name] for name in ("pretrained", TRAINED)}
    cfg["evaluate"] = [{"model": name, "dataset": "lfw", "alignments": ["provided"]} for name in cfg["models"]]
    cfg["alignments"] = {"provided": cfg["alignments"]["provided"]}
    cfg["report"].pop("studies", None)  # its models are gone
    cfg["analysis"].update(cpd=False, scorers=["cosine"])
    cfg["embed"] = {"device": "cpu"}


OUTER = """\
configfile: "config.yaml"


module facebench:
    snakefile:
        {snakefile!r}
    config:
        config
    prefix:
        {prefix!r}


use rule * from facebench as {prefix}_*
"""


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_the_workflow_runs_as_a_module_with_a_prefix(tmp_path):
    cfg = absolute_config(tmp_path, edit=reduced)
    cfg.rename(tmp_path / "config.yaml")
    (tmp_path / "Snakefile").write_text(OUTER.format(snakefile=str(ROOT / "Snakefile"), prefix=PREFIX))
    bin_dir = str(Path(sys.executable).parent)  # the rules call `python`
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--directory", str(tmp_path)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]

    out = tmp_path / PREFIX
    assert (out / "report" / "index.html").is_file() and (out / "report" / "manifest.json").is_file()
    assert (out / f"results/models/{TRAINED}/model.pt").is_file()
    assert (out / "results/models/pretrained/source.pth").is_file()  # the fetched checkpoint, kept for reruns
    assert (out / "results/metrics/pretrained/lfw/provided/view2-plain-grid.json").is_file()
    # nothing outside the prefix: no results/ or report/ of the outer workflow, no stray file anywhere
    assert not (tmp_path / "results").exists(), files_under(tmp_path / "results")[:20]
    assert not (tmp_path / "report").exists(), files_under(tmp_path / "report")[:20]
    outside = [f for f in files_under(tmp_path) if f.split("/")[0] not in (PREFIX, ".snakemake", "Snakefile",
                                                                            "config.yaml", "smoke.yaml")]
    assert not outside, outside[:20]

    # every rule that ran wrote its log and its benchmark, under the prefix
    ran = set(re.findall(rf"^(?:local)?rule {PREFIX}_(\w+):", log, re.M)) - {"all"}
    assert {"fetch_dataset", "fetch_weights", "import_weights", "align", "train", "embed", "verify", "report"} <= ran
    assert {p.name for p in (out / "results/logs").iterdir()} == ran
    assert {p.name for p in (out / "results/benchmarks").iterdir()} == ran
    # the manifest the fetch wrote names its files under the prefix
    manifest = yaml.safe_load((out / "results/data/lfw/manifest.json").read_text())
    assert manifest["images_list"] == f"{PREFIX}/results/data/lfw/images.txt"

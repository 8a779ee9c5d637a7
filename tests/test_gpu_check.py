"""The prepared GPU check runs everywhere: its --dry-run does every part on the CPU (so the script cannot rot before a
GPU machine is lent) and marks its figures as not measured."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from facebench import losses

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (ROOT / "bench" / "gpu_check.sh").exists(), reason="no bench/ in this checkout")
def test_the_dry_run_trains_every_loss_under_both_amp_dtypes_and_runs_every_part():
    env = {**os.environ, "PYTHON": sys.executable}
    run = subprocess.run([str(ROOT / "bench" / "gpu_check.sh"), "--dry-run"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads((ROOT / "results" / "bench" / "gpu_check-dry-run.json").read_text())
    assert result["measured"] is False and result["targets_met"].startswith("not measured")
    want = {f"{n}/{d}" for n in losses.names() for d in ("bfloat16", "float16")}
    assert want <= set(result["losses"]) and result["losses_all_finite"]
    assert set(result["train"]) == {"mobilefacenet", "iresnet50", "sphere20"}
    for part in ("embed", "loader", "ddp", *(result["train"][k] for k in result["train"])):
        entry = result[part] if isinstance(part, str) else part
        assert "error" not in entry and entry["images_per_second"] > 0
    assert result["ddp"]["group_of_one"]["all_reduce_ok"]

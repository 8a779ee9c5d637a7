"""bench/scale.py --quick: every step runs in its own process and reports finite, positive time and memory."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "scale.py"
STEPS = {"verification", "rank_n", "all_pairs_auc", "open_set", "distance_stats", "clustering", "tsne", "cpd"}


@pytest.mark.skipif(not SCRIPT.exists(), reason="no bench/ in this checkout")
def test_quick_scale_bench_writes_every_step_with_positive_time_and_memory():
    name = "scale-test-quick"
    out = ROOT / "results" / "bench" / f"{name}.json"
    subprocess.run([sys.executable, str(SCRIPT), "--quick", "--name", name], cwd=ROOT, check=True,
                   capture_output=True, text=True, timeout=900)
    try:
        result = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
    assert result["bench"] == name and result["quick"] is True
    assert set(result["steps"]) == STEPS
    for step, s in result["steps"].items():
        sizes = result["pairs"] if step == "verification" else result["sizes"]
        assert [r["size"] for r in s["runs"]] == sizes, step
        for r in s["runs"]:
            assert "error" not in r, (step, r)
            for key in ("seconds", "process_seconds", "peak_mb"):
                assert math.isfinite(r[key]) and r[key] > 0, (step, key, r[key])
        assert len(s["time_exponent"]) == len(sizes) - 1 and s["order"] and s["within_memory_limit"]
    auc = result["steps"]["all_pairs_auc"]["runs"]
    # the quick settings put the larger size above the exact limit: the estimate, and the run, say so
    assert [r["result"]["auc_all_pairs_method"] for r in auc] == ["exact", "sampled"]
    assert auc[0]["subsampled"] is None and "sampled with seed" in auc[1]["subsampled"]
    assert all(r["subsampled"] for r in result["steps"]["tsne"]["runs"] + result["steps"]["cpd"]["runs"])

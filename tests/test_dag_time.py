"""bench/dag_time.py's floor: the forwards it counts come from the embeddings' meta, and the floor it times is the
frozen network's, scaled from the forwards it timed (so the main job's ratio wall / floor cannot rot unnoticed)."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (ROOT / "bench" / "dag_time.py").exists(), reason="no bench/ in this checkout")
sys.path.insert(0, str(ROOT / "bench"))


def test_the_forwards_are_every_embedded_face_and_its_mirror(tmp_path):
    from dag_time import embedded_forwards

    for model, alignment, n in (("a", "provided", 7), ("a", "center", 7), ("b", "provided", 3)):
        out = tmp_path / "embeddings" / model / "lfw" / f"{alignment}.npz"
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez(out, features=np.zeros((n, 4), np.float32), meta=np.array(json.dumps({"n_images": n})))
    assert embedded_forwards(tmp_path) == 2 * (7 + 7 + 3)
    assert embedded_forwards(tmp_path / "absent") == 0


def test_the_floor_scales_the_timed_forwards_to_the_workload():
    from forward_floor import floor_seconds

    out = floor_seconds(10_000, measure=32, batch=16, streams=1)
    assert out["timed_forwards"] == 32 and out["forwards"] == 10_000 and out["graph"].startswith("frozen")
    per_forward = out["timed_seconds"] / out["timed_forwards"]
    assert out["floor_seconds"] == pytest.approx(10_000 * per_forward, rel=0.01, abs=0.1)

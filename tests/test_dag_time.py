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


def test_a_resumed_segment_keeps_the_folder_and_adds_its_wall_time(tmp_path, monkeypatch):
    import subprocess

    import dag_time

    calls = []

    class FakeSnakemake:
        def __init__(self, cmd, cwd, **kw):
            calls.append(cmd)
            (Path(cwd) / "made-by-a-segment").touch()

        def wait(self):
            return 0

    def fake_run(cmd, cwd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(dag_time.subprocess, "run", fake_run)
    monkeypatch.setattr(dag_time.subprocess, "Popen", FakeSnakemake)
    config = tmp_path / "c.yaml"
    config.write_text("profile: p\n")
    work = tmp_path / "work"
    (work / "left-over").parent.mkdir()
    (work / "left-over").touch()
    first = dag_time.run_dag(config, work, cores=2)
    assert not (work / "left-over").exists(), "a fresh run starts from an empty folder"
    assert "--rerun-incomplete" not in calls[-1] and len(first["segments"]) == 1
    (work / "kept").touch()
    second = dag_time.run_dag(config, work, cores=2, resume=True)
    assert (work / "kept").exists(), "a resumed run keeps what the earlier segment made"
    assert any("--unlock" in c for c in calls) and "--rerun-incomplete" in calls[-1]
    assert [s["started"] for s in second["segments"][:1]] == [first["segments"][0]["started"]]
    assert second["wall_seconds"] == pytest.approx(sum(s["wall_seconds"] for s in second["segments"]), abs=0.11)
    assert len(json.loads((work / "dag_time-segments.json").read_text())) == 2
    third = dag_time.run_dag(config, work, cores=2)
    assert len(third["segments"]) == 1, "without --resume the earlier segments are not counted"


def test_ctrl_c_waits_for_snakemake_to_stop_and_records_the_segment(tmp_path, monkeypatch):
    import dag_time

    class StoppedSnakemake:
        waits = 0

        def __init__(self, cmd, cwd, **kw):
            pass

        def wait(self):
            StoppedSnakemake.waits += 1
            if StoppedSnakemake.waits == 1:
                raise KeyboardInterrupt  # Ctrl-C while snakemake runs
            return 130  # snakemake's exit after it stopped its jobs

    monkeypatch.setattr(dag_time.subprocess, "Popen", StoppedSnakemake)
    config = tmp_path / "c.yaml"
    config.write_text("profile: p\n")
    out = dag_time.run_dag(config, tmp_path / "work", cores=2)
    assert StoppedSnakemake.waits == 2 and out["returncode"] == 130
    assert json.loads((tmp_path / "work" / "dag_time-segments.json").read_text())[0]["returncode"] == 130


def test_the_floor_budget_splits_the_wall_into_embedding_and_the_rest():
    from dag_time import floor_budget

    rules = {"embed": {"seconds": 230.0}, "landmarks_mtcnn": {"seconds": 68.0}, "rank": {"seconds": 20.0}}
    got = floor_budget(395.0, rules, 200.0)
    assert got["target_wall_seconds"] == 300.0 and got["wall_outside_embed_seconds"] == 165.0
    assert got["embed_over_floor"] == 1.15 and got["ratio_with_embed_at_floor"] == 1.82
    assert list(got["other_rules_over_floor"].items()) == [("landmarks_mtcnn", 0.34), ("rank", 0.1)]

"""Data-parallel training (train.processes): 2 gloo processes under torchrun on CPU, started as the train rule starts
them, train as one process does on the whole batch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from facebench.io import read_json, read_tsv
from facebench.models.checkpoint import load_model
from facebench.train import loop
from facebench.train.distributed import World
from test_train import SIZE, make_store

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def spec(backbone="sphere20", backbone_args=None, loss="softmax", **train):
    return {"backbone": backbone, "backbone_args": {"embedding_size": 16, **(backbone_args or {})},
            "input": {"template": "arcface112", "size": [SIZE, SIZE], "mean": [0.5] * 3, "std": [0.5] * 3},
            "train": {"dataset": "toy", "alignment": "provided", "loss": loss, "batch_size": 8, "steps": 4,
                      "lr": 0.05, "checkpoint_every": 2, "device": "cpu", **train}}


# sphere20 without batch norm: nothing in it depends on how the batch is split, so 1 and 2 processes must agree
NO_BN = {"batch_norm": False, "width": 0.25}


def train(tmp_path, store, train_list, s, tag, processes, init=None):
    """`facebench train` as the rule runs it (common.smk's train_launcher): python -m, or torchrun -m for processes
    > 1."""
    out = tmp_path / tag
    launcher = (["python", "-m"] if processes == 1
                else ["torchrun", "--standalone", "--nproc-per-node", str(processes), "-m", "--"])
    cmd = [*launcher, "facebench", "train", "toy", "--spec", json.dumps(s), "--store", str(store),
           "--train-list", str(train_list), "--out", str(out / "model.pt"), "--log", str(out / "log.tsv"),
           "--summary", str(out / "summary.json"), "--work", str(out / "work"), "--device", "cpu", "--threads", "1",
           *(["--init", str(init)] if init else [])]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "workflow"), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return read_json(out / "summary.json"), out


def files(out):
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def weights(path):
    return load_model(path)[0].state_dict()


def test_two_processes_train_as_one_process_on_the_whole_batch(tmp_path):
    store, train_list = make_store(tmp_path)
    # augmentation on: every process draws the whole batch's augmentation and takes its slice
    s = spec(backbone_args=NO_BN, augment={"flip": True, "brightness": 0.2})
    one, one_out = train(tmp_path, store, train_list, s, "one", processes=1)
    two, two_out = train(tmp_path, store, train_list, s, "two", processes=2)
    assert files(one_out) == files(two_out)  # rank 1 writes nothing of its own
    assert one.keys() == two.keys()
    assert (one["processes"], one["backend"]) == (1, None) and (two["processes"], two["backend"]) == (2, "gloo")
    assert two["batch_size"] == one["batch_size"] == 8 and two["steps"] == 4
    a, b = weights(one_out / "model.pt"), weights(two_out / "model.pt")
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    assert diff < 1e-4, diff  # the gradients are averaged over the global batch (half a batch moves them ~1e-2)
    (h1, rows1), (h2, rows2) = read_tsv(one_out / "log.tsv"), read_tsv(two_out / "log.tsv")
    assert h1 == h2 and [r[0] for r in rows1] == [r[0] for r in rows2] == ["1", "2", "3", "4"]
    loss = h1.index("loss")
    np.testing.assert_allclose([float(r[loss]) for r in rows2], [float(r[loss]) for r in rows1], rtol=1e-4)


def test_a_pair_loss_trains_under_two_processes(tmp_path):
    store, train_list = make_store(tmp_path)
    # irse8 has batch norm: DDP keeps rank 0's running statistics; each process keeps whole identity groups (P = 4)
    summary, out = train(tmp_path, store, train_list, spec("irse8", loss="contrastive", pk=[4, 2]), "pairs",
                         processes=2)
    assert summary["processes"] == 2 and summary["pk"] == [4, 2] and summary["final"]["accuracy"] is None
    header, rows = read_tsv(out / "log.tsv")
    assert [r[0] for r in rows] == ["1", "2", "3", "4"]
    assert all(np.isfinite(float(r[header.index(c)])) for r in rows for c in ("loss", "pull", "push"))


def test_frozen_layers_stay_as_loaded_under_two_processes(tmp_path):
    store, train_list = make_store(tmp_path)
    base = tmp_path / "base"
    loop.train_model("toy", spec(backbone_args=NO_BN, steps=1), store_dir=store, train_list=train_list,
                     model_out=base / "model.pt", log_out=base / "log.tsv", summary_out=base / "summary.json",
                     work_dir=base / "work")
    summary, out = train(tmp_path, store, train_list, spec(backbone_args=NO_BN, trainable="output"), "ft",
                         processes=2, init=base / "model.pt")
    assert summary["processes"] == 2 and summary["head_init"].startswith("from ")
    before, after = weights(base / "model.pt"), weights(out / "model.pt")
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(k.startswith("fc.") for k in moved), sorted(moved)  # sphere20's output layer is its fc


def test_a_batch_that_does_not_split_evenly_is_refused(tmp_path):
    store, train_list = make_store(tmp_path)
    kw = {"store_dir": store, "train_list": train_list, "model_out": tmp_path / "m.pt", "log_out": tmp_path / "l.tsv",
          "summary_out": tmp_path / "s.json", "work_dir": tmp_path / "w", "init_model": None, "validation": None}
    # refused before any process talks to another, so a World of 3 needs no process group here
    with pytest.raises(ValueError, match=r"train.batch_size: 8 does not split evenly over 3 processes"):
        loop._train("toy", spec(backbone_args=NO_BN), World(size=3), **kw)
    with pytest.raises(ValueError, match=r"train.pk: P = 3 does not split evenly over 2 processes"):
        loop._train("toy", spec(backbone_args=NO_BN, loss="contrastive", pk=[3, 2]), World(size=2), **kw)


def test_each_process_takes_a_contiguous_slice_and_one_process_reduces_nothing():
    assert [World(size=2, rank=r).shard(8) for r in (0, 1)] == [slice(0, 4), slice(4, 8)]
    assert World().shard(8) == slice(0, 8)
    one = World()
    assert one.mean({"loss": 1.5, "accuracy": None}) == {"loss": 1.5, "accuracy": None}
    assert one.any([]) is False and one.any([15]) is True and one.main and one.backend is None

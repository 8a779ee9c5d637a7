"""The training loop on a tiny synthetic store: schedules, sampling, augmentation, resume, divergence, outputs."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch
from facebench.io import read_json, read_tsv, write_json, write_tsv
from facebench.models.checkpoint import load_head, load_model
from facebench.models.inputs import to_model_input
from facebench.store import STORE_VERSION
from facebench.train import loop
from facebench.train.augment import augment
from facebench.train.loop import Interrupted, TrainingDiverged, lr_factor, train_model
from facebench.train.sampler import Sampler

N_IDS, PER_ID, SIZE = 6, 8, 32


def make_store(tmp_path, n_ids=N_IDS, per_id=PER_ID):
    """A store of 32x32 faces whose identity is a colour pattern plus noise, and its training list."""
    rng = np.random.default_rng(0)
    store = tmp_path / "store"
    store.mkdir()
    paths, faces = [], []
    for i in range(n_ids):
        base = rng.integers(0, 255, size=(1, 1, 3))
        for j in range(per_id):
            noise = rng.normal(0, 20, size=(SIZE, SIZE, 3))
            faces.append(np.clip(base + noise, 0, 255).astype(np.uint8))
            paths.append(f"id{i}/id{i}_{j:04d}.jpg")
    np.save(store / "faces.npy", np.stack(faces))
    write_tsv(store / "index.tsv", ["row", "path", "status", "note"],
              ([k, p, "aligned", ""] for k, p in enumerate(paths)))
    write_json(store / "summary.json", {"store_version": STORE_VERSION, "n_images": len(paths),
                                        "template": "arcface112", "size": [SIZE, SIZE]})
    train_list = tmp_path / "train.tsv"
    write_tsv(train_list, ["path", "identity"], ([p, p.split("/")[0]] for p in paths))
    return store, train_list


def spec(loss="softmax", **train):
    return {"backbone": "irse8", "backbone_args": {"embedding_size": 16},
            "input": {"template": "arcface112", "size": [SIZE, SIZE], "mean": [0.5] * 3, "std": [0.5] * 3},
            "train": {"dataset": "toy", "alignment": "provided", "loss": loss, "batch_size": 8, "steps": 6,
                      "lr": 0.05, "checkpoint_every": 2, **train}}


def run(tmp_path, store, train_list, s, tag="a", **kw):
    out = tmp_path / tag
    return train_model("toy", s, store_dir=store, train_list=train_list, model_out=out / "model.pt",
                       log_out=out / "log.tsv", summary_out=out / "summary.json", work_dir=out / "work", **kw), out


def weights(path):
    return load_model(path)[0].state_dict()


# ---------------------------------------------------------------- schedule, sampler, augmentation
def test_lr_schedule_warmup_step_cosine():
    assert lr_factor(0, 100, {"kind": "step", "milestones": [0.5]}, warmup=10) == pytest.approx(0.1)
    assert lr_factor(9, 100, {"kind": "step", "milestones": [0.5]}, warmup=10) == pytest.approx(1.0)
    assert lr_factor(49, 100, {"kind": "step", "milestones": [0.5], "gamma": 0.1}, warmup=0) == 1.0
    assert lr_factor(50, 100, {"kind": "step", "milestones": [0.5], "gamma": 0.1}, warmup=0) == pytest.approx(0.1)
    assert lr_factor(80, 100, {"kind": "step", "milestones": [0.5, 75], "gamma": 0.1}, warmup=0) == pytest.approx(0.01)
    assert lr_factor(0, 100, {"kind": "cosine"}, warmup=0) == pytest.approx(1.0)
    assert lr_factor(50, 100, {"kind": "cosine"}, warmup=0) == pytest.approx(0.5)
    assert lr_factor(100, 100, {"kind": "cosine"}, warmup=0) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="train.schedule.kind"):
        lr_factor(0, 10, {"kind": "exponential"}, 0)


def test_sampler_is_a_function_of_seed_and_epoch():
    labels = np.repeat(np.arange(10), 5)
    a, b = Sampler(labels, 8, seed=3), Sampler(labels, 8, seed=3)
    assert a.steps_per_epoch == 50 // 8
    assert all(np.array_equal(x, y) for x, y in zip(a.batches(2), b.batches(2)))
    assert not all(np.array_equal(x, y) for x, y in zip(a.batches(0), a.batches(1)))
    flat = np.concatenate(a.batches(0))
    assert len(set(flat.tolist())) == len(flat)  # a shuffle: no face twice in one epoch


def test_pk_sampler_batches_hold_p_identities_of_k_faces():
    labels = np.array([0] * 6 + [1] * 3 + [2] * 1 + [3] * 5 + [4] * 2)
    s = Sampler(labels, 0, seed=0, pk=(2, 4))
    assert s.steps_per_epoch == 4 // 2  # identity 2 has one face: no positive pair, left out
    for batch in s.batches(0):
        ids, counts = np.unique(labels[batch], return_counts=True)
        assert len(ids) == 2 and set(counts) == {4}
        assert 2 not in ids
    with pytest.raises(ValueError, match="train.pk"):
        Sampler(labels, 0, seed=0, pk=(5, 2))


def test_augment_is_seeded_and_each_option_does_its_job():
    x = torch.from_numpy(np.random.default_rng(1).integers(0, 255, (16, 12, 10, 3))).float()
    same = [augment(x, {"flip": True, "brightness": 0.3, "grayscale": 0.5, "rotation": 10},
                    torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(*same)
    flipped = augment(x, {"flip": True}, torch.Generator().manual_seed(0))
    per = [torch.equal(f, o) or torch.equal(f, o.flip(1)) for f, o in zip(flipped, x)]
    assert all(per) and 0 < sum(not torch.equal(f, o) for f, o in zip(flipped, x)) < 16
    gray = augment(x, {"flip": False, "grayscale": 1.0}, torch.Generator().manual_seed(0))
    assert torch.allclose(gray[..., 0], gray[..., 1]) and torch.allclose(gray[..., 1], gray[..., 2])
    still = augment(x, {"flip": False, "rotation": 0.0, "brightness": 0.0}, torch.Generator())
    assert torch.equal(still, x)
    low = augment(x, {"flip": False, "degrade": {"size": 4, "p": 1.0}}, torch.Generator())
    assert low.shape == x.shape and not torch.equal(low, x)
    with pytest.raises(KeyError, match="train.augment"):
        augment(x, {"blur": 1}, torch.Generator())


# ---------------------------------------------------------------- the loop
def training_accuracy(model_file, store):
    """The saved model and its softmax head on every face of the store, in eval mode: the share classified right."""
    model, info = load_model(model_file)
    head = load_head(model_file)
    faces = torch.from_numpy(np.load(store / "faces.npy"))
    paths = [row[1] for row in read_tsv(store / "index.tsv")[1]]  # the store's rows, in faces.npy's order
    labels = torch.tensor([head["identities"].index(p.split("/")[0]) for p in paths])
    with torch.no_grad():
        emb = model(to_model_input(faces, info["input"]))
    w = head["state_dict"]
    return ((emb @ w["weight"].t() + w["bias"]).argmax(1) == labels).float().mean().item()


def test_training_writes_a_loadable_model_log_and_summary(tmp_path):
    store, train_list = make_store(tmp_path)
    summary, out = run(tmp_path, store, train_list, spec(steps=24))
    assert summary["steps"] == 24 and summary["identities"] == N_IDS and summary["faces"] == N_IDS * PER_ID
    header, rows = read_tsv(out / "log.tsv")
    assert header[:6] == loop.LOG_COLUMNS and [int(r[0]) for r in rows] == list(range(1, 25))
    assert np.isfinite([float(r[2]) for r in rows]).all()
    model, info = load_model(out / "model.pt")
    assert info["meta"]["loss"] == "softmax"
    assert model(torch.zeros(2, 3, SIZE, SIZE)).shape == (2, 16)
    assert read_json(out / "summary.json")["steps"] == 24
    # it learns: what training reaches, not its losses step by step (their digits differ between CPUs). Chance is
    # 1/6; after 24 steps (4 epochs) the saved model and head classify every face right with each of 8 seeds
    # (12 steps: 50-100%, hence 24)
    assert training_accuracy(out / "model.pt", store) > 0.9


def test_same_seed_same_weights_on_cpu(tmp_path):
    store, train_list = make_store(tmp_path)
    run(tmp_path, store, train_list, spec(), tag="a")
    run(tmp_path, store, train_list, spec(), tag="b")
    a, b = weights(tmp_path / "a/model.pt"), weights(tmp_path / "b/model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("loss", ["softmax", "sphereface", "triplet"])
def test_interrupted_run_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch, loss):
    store, train_list = make_store(tmp_path)
    s = spec(loss, steps=7, augment={"flip": True, "brightness": 0.2})
    run(tmp_path, store, train_list, s, tag="whole")

    real = loop.lr_factor

    def kill_during_step_4(step, *args):  # called in the loop's own thread once per step (batches are made ahead)
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # as Snakemake or SLURM would stop the job
        return real(step, *args)

    monkeypatch.setattr(loop, "lr_factor", kill_during_step_4)
    with pytest.raises(Interrupted, match="after step 4"):
        run(tmp_path, store, train_list, s, tag="cut")
    assert not (tmp_path / "cut/model.pt").exists()  # no output until the run completes
    monkeypatch.setattr(loop, "lr_factor", real)
    summary, _ = run(tmp_path, store, train_list, s, tag="cut")
    assert summary["resumed_from_step"] == 4
    a, b = weights(tmp_path / "whole/model.pt"), weights(tmp_path / "cut/model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    whole, cut = read_tsv(tmp_path / "whole/log.tsv")[1], read_tsv(tmp_path / "cut/log.tsv")[1]
    assert [r[:3] for r in whole] == [r[:3] for r in cut]  # the log has every step once, with the same losses


def test_a_state_from_another_spec_is_not_resumed(tmp_path):
    store, train_list = make_store(tmp_path)
    run(tmp_path, store, train_list, spec(steps=4), tag="a")
    summary, _ = run(tmp_path, store, train_list, spec(steps=4, lr=0.01), tag="a")
    assert summary["resumed_from_step"] == 0


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_state(tmp_path, monkeypatch):
    store, train_list = make_store(tmp_path)
    calls = []
    real = loop.augment

    def poison_step_4(x, options, gen):
        calls.append(1)
        y = real(x, options, gen)
        return y * float("nan") if len(calls) == 4 else y

    monkeypatch.setattr(loop, "augment", poison_step_4)
    with pytest.raises(TrainingDiverged, match=r"step 3 .*last good state \(step 2\).*train.lr"):
        run(tmp_path, store, train_list, spec(steps=6))
    state = torch.load(tmp_path / "a/work/state.pt", weights_only=True)
    assert state["step"] == 2 and all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert not (tmp_path / "a/model.pt").exists()


def test_nan_loss_before_the_first_checkpoint_says_no_state_was_saved(tmp_path, monkeypatch):
    store, train_list = make_store(tmp_path)
    real = loop.augment
    monkeypatch.setattr(loop, "augment", lambda x, options, gen: real(x, options, gen) * float("nan"))
    with pytest.raises(TrainingDiverged, match=r"step 0 .*no state was saved yet \(the first is at step 2\)"):
        run(tmp_path, store, train_list, spec(steps=6))
    assert not (tmp_path / "a/work/state.pt").exists()


def test_fine_tuning_starts_from_the_init_model(tmp_path):
    store, train_list = make_store(tmp_path)
    run(tmp_path, store, train_list, spec(steps=3), tag="base")
    summary, _ = run(tmp_path, store, train_list, spec(steps=1, lr=1e-9, momentum=0.0, weight_decay=0.0),
                     tag="ft", init_model=tmp_path / "base/model.pt")
    a, b = weights(tmp_path / "base/model.pt"), weights(tmp_path / "ft/model.pt")
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-4) for k in a if "running" not in k
               and "num_batches" not in k)
    bad = spec(steps=1)
    bad["backbone_args"]["embedding_size"] = 8
    with pytest.raises(ValueError, match="train.init"):
        run(tmp_path, store, train_list, bad, tag="bad", init_model=tmp_path / "base/model.pt")


def test_input_size_is_said_once_and_a_disagreeing_backbone_size_is_refused(tmp_path):
    store, train_list = make_store(tmp_path)
    summary, out = run(tmp_path, store, train_list, spec(steps=1))
    assert load_model(out / "model.pt")[1]["backbone_args"]["input_size"] == [SIZE, SIZE]
    s = spec(steps=1)
    s["backbone_args"]["input_size"] = [64, 64]
    with pytest.raises(ValueError, match=r"models.toy.backbone_args.input_size: \[64, 64\] disagrees"):
        run(tmp_path, store, train_list, s, tag="b")


def test_store_of_another_template_is_refused(tmp_path):
    store, train_list = make_store(tmp_path)
    s = spec()
    s["input"]["template"] = "sphereface96x112"
    with pytest.raises(ValueError, match="input.template"):
        run(tmp_path, store, train_list, s)


def test_a_training_image_missing_from_the_store_is_named(tmp_path):
    store, train_list = make_store(tmp_path)
    with open(train_list, "a", encoding="utf-8") as fh:
        fh.write("ghost/ghost_0001.jpg\tghost\n")
    with pytest.raises(KeyError, match=r"train.tsv: 1 training image\(s\) are not in the store .*ghost/ghost_0001.jpg"):
        run(tmp_path, store, train_list, spec(steps=1))


def test_model_input_is_prepared_on_the_faces_device():
    """Training and validation prepare batches already on the GPU: the normalisation constants must follow the faces
    (a CPU mean against CUDA faces raised). The meta device stands in for a GPU on machines without one."""
    from facebench.models.inputs import to_model_input

    x = to_model_input(torch.zeros(2, 8, 8, 3, device="meta"), {"mean": [0.5] * 3, "std": [0.5] * 3, "size": [4, 4]})
    assert x.device.type == "meta" and tuple(x.shape) == (2, 3, 4, 4)

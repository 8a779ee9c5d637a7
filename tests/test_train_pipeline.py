"""Issue 22 on a CPU: the loop does not read the device between logged steps, the log holds the numbers per-step
reading gave, and the batches made ahead in a thread (and per process under data parallelism) are today's batches."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from facebench.io import read_tsv
from facebench.train import loop
from facebench.train.augment import augment
from facebench.train.batches import Batches, Prefetcher
from facebench.train.distributed import World
from facebench.train.loop import TrainingDiverged
from facebench.train.sampler import Sampler
from test_train import make_store, run, spec

READS = ("item", "tolist", "__float__", "__int__", "__bool__", "__index__", "cpu", "numpy")


def count_reads(monkeypatch) -> list[str]:
    """Tensor -> Python conversions (each one a wait for a GPU) made in the calling thread from now on."""
    seen, main = [], threading.get_ident()
    for name in READS:
        real = getattr(torch.Tensor, name)

        def counted(self, *a, _real=real, _name=name, **kw):
            if threading.get_ident() == main:
                seen.append(_name)
            return _real(self, *a, **kw)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return seen


@pytest.mark.parametrize("loss", ["sphereface", "center"])
def test_steps_between_logged_steps_read_nothing_from_the_device(tmp_path, monkeypatch, loss):
    store, train_list = make_store(tmp_path)
    counts = []
    for steps in (3, 6):
        with monkeypatch.context() as m:
            seen = count_reads(m)
            run(tmp_path, store, train_list, spec(loss, steps=steps, log_every=100, checkpoint_every=100),
                tag=f"s{steps}")
        counts.append(list(seen))
    # the same reads for 3 and 6 steps: none per step, only the one logged step (the last) and the outputs
    assert counts[0] == counts[1], counts
    assert 1 <= counts[0].count("tolist") <= 3 and "item" not in counts[0] and "__float__" not in counts[0], counts


def test_a_sparse_log_holds_the_numbers_of_a_log_of_every_step(tmp_path):
    store, train_list = make_store(tmp_path)
    every = run(tmp_path, store, train_list, spec("center", steps=6, log_every=1), tag="every")[1]
    sparse = run(tmp_path, store, train_list, spec("center", steps=6, log_every=3), tag="sparse")[1]
    (h1, rows1), (h3, rows3) = read_tsv(every / "log.tsv"), read_tsv(sparse / "log.tsv")
    assert h1 == h3 and "center" in h1 and [r[0] for r in rows3] == ["3", "6"]
    keep = [i for i, c in enumerate(h1) if c != "images_per_second"]  # a timing, not a value of the step
    assert [[r[i] for i in keep] for r in rows3] == [[r[i] for i in keep] for r in rows1 if r[0] in ("3", "6")]


def test_a_nan_between_logged_steps_names_its_step_and_keeps_the_last_good_state(tmp_path, monkeypatch):
    store, train_list = make_store(tmp_path)
    calls, real = [], loop.augment

    def poison_step_4(x, options, gen, **kw):
        calls.append(1)
        y = real(x, options, gen, **kw)
        return y * float("nan") if len(calls) == 4 else y

    monkeypatch.setattr(loop, "augment", poison_step_4)
    with pytest.raises(TrainingDiverged, match=r"the loss is nan at step 3 .*last good state \(step 2\)"):
        run(tmp_path, store, train_list, spec(steps=8, log_every=5, checkpoint_every=2))
    state = torch.load(tmp_path / "a/work/state.pt", weights_only=True)
    assert state["step"] == 2 and all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


# ---------------------------------------------------------------- batches made ahead, per process

OPTIONS = {"flip": True, "brightness": 0.3, "grayscale": 0.3, "rotation": 10.0, "degrade": {"size": 8, "p": 0.5}}


class Faces:
    """The store's memory map, counting the faces each gather reads."""

    def __init__(self, array):
        self.array, self.read = array, []

    def __getitem__(self, rows):
        self.read.append(len(rows))
        return self.array[rows]


def toy(pk=None):
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 255, size=(40, 16, 16, 3), dtype=np.uint8)
    rows = rng.permutation(40)
    labels = np.repeat(np.arange(10), 4)
    return Faces(faces), rows, labels, Sampler(labels, 8, seed=5, pk=pk)


def today(faces, rows, labels, sampler, step, seed=7):
    """The batch the loop made before issue 22: the whole batch gathered and augmented, then this process's slice."""
    epoch, within = divmod(step, sampler.steps_per_epoch)
    idx = sampler.batches(epoch)[within]
    gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return augment(torch.from_numpy(faces.array[rows[idx]]), OPTIONS, gen), torch.from_numpy(labels[idx])


@pytest.mark.parametrize("pk", [None, (4, 2)])
def test_prefetched_batches_are_the_batches_made_in_the_loop(pk):
    faces, rows, labels, sampler = toy(pk)
    batches = Batches(faces, rows, labels, sampler, seed=7, options=OPTIONS, shard=World().shard)
    steps = range(2, 2 + 2 * sampler.steps_per_epoch)  # across epochs, from a resumed start
    with Prefetcher(batches, steps[0], steps[-1] + 1) as ahead:
        made = [ahead.next() for _ in steps]
    for step, b in zip(steps, made):
        x, y = today(faces, rows, labels, sampler, step)
        assert b.step == step and b.size == len(y) and torch.equal(b.faces, x) and torch.equal(b.labels, y)
        again = batches.make(step)  # in this thread, later: the same pixels (nothing depends on the timing)
        assert torch.equal(again.faces, x)


def test_cpu_batches_are_made_with_one_torch_thread_whatever_the_loops_threads():
    """On CPU the loop makes batches with one torch thread (the step has the cores). torch's bilinear enlarging (the
    degrade augmentation) rounds differently with the thread count, so fixing it also makes a CPU batch the same
    whatever train.threads is: faces large enough for torch to split its work (112 x 96, as the stores hold them)."""
    rng = np.random.default_rng(2)
    faces = Faces(rng.integers(0, 255, size=(24, 112, 96, 3), dtype=np.uint8))
    labels = np.repeat(np.arange(6), 4)
    sampler = Sampler(labels, 12, seed=5)
    before, made = torch.get_num_threads(), {}
    try:
        for loop_threads in (1, 2):
            torch.set_num_threads(loop_threads)
            batches = Batches(faces, np.arange(24), labels, sampler, seed=7, options=OPTIONS, shard=World().shard,
                              threads=1)
            with Prefetcher(batches, 0, 4) as ahead:
                made[loop_threads] = [ahead.next().faces for _ in range(4)]
        torch.set_num_threads(1)
        alone = [batches.make(step).faces for step in range(4)]  # in this thread, one torch thread
    finally:
        torch.set_num_threads(before)
    for one, two, here in zip(made[1], made[2], alone):
        assert torch.equal(one, two) and torch.equal(one, here)


def test_the_loop_makes_cpu_batches_with_one_thread(tmp_path, monkeypatch):
    seen, real = [], Batches.__init__

    def spy(self, *a, **kw):
        real(self, *a, **kw)
        seen.append(self.threads)

    monkeypatch.setattr(loop.Batches, "__init__", spy)
    store, train_list = make_store(tmp_path)
    run(tmp_path, store, train_list, spec(steps=2))
    assert seen == [1]


def test_each_process_gathers_and_augments_only_its_slice_and_the_slices_make_the_batch():
    faces, rows, labels, sampler = toy()
    for step in range(3):
        whole_x, whole_y = today(faces, rows, labels, sampler, step)
        faces.read.clear()
        parts = [Batches(faces, rows, labels, sampler, seed=7, options=OPTIONS,
                         shard=World(size=2, rank=r).shard).make(step) for r in (0, 1)]
        assert faces.read == [4, 4]  # half the batch each
        assert torch.equal(torch.cat([p.faces for p in parts]), whole_x)
        assert torch.equal(torch.cat([p.labels for p in parts]), whole_y)
        assert all(p.size == 8 for p in parts)


def test_an_error_in_the_batch_thread_reaches_the_loop_and_the_thread_ends():
    faces, rows, labels, sampler = toy()

    def broken(x, options, gen, **kw):
        if len(calls) == 2:
            raise ValueError("bad face")
        calls.append(1)
        return augment(x, options, gen, **kw)

    calls = []
    batches = Batches(faces, rows, labels, sampler, seed=7, options=OPTIONS, shard=World().shard, augment=broken)
    with Prefetcher(batches, 0, 5) as ahead:
        ahead.next(), ahead.next()
        with pytest.raises(ValueError, match="bad face"):
            ahead.next()
    assert not ahead.thread.is_alive()
    with Prefetcher(Batches(faces, rows, labels, sampler, seed=7, options=OPTIONS, shard=World().shard), 0, 5) as a:
        a.next()  # the loop stops early (a signal): leaving joins the thread blocked on the full queue
    assert not a.thread.is_alive()


def test_batches_for_a_gpu_are_pinned(monkeypatch):
    pinned = []
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: pinned.append(self.dtype) or self)
    faces, rows, labels, sampler = toy()
    Batches(faces, rows, labels, sampler, seed=7, options={}, shard=World().shard, pin=True).make(0)
    assert pinned == [torch.float32, torch.int64]
    pinned.clear()
    Batches(faces, rows, labels, sampler, seed=7, options={}, shard=World().shard).make(0)
    assert pinned == []  # CPU training: no page-locked memory


def test_augmenting_a_part_takes_the_whole_batchs_draws():
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 255, size=(6, 12, 12, 3), dtype=np.uint8))
    whole = augment(x, OPTIONS, torch.Generator().manual_seed(3))
    part = augment(x[2:4], OPTIONS, torch.Generator().manual_seed(3), part=(6, slice(2, 4)))
    assert torch.equal(part, whole[2:4])
    with pytest.raises(ValueError, match="does not hold the 3 faces"):
        augment(x[:3], OPTIONS, torch.Generator(), part=(6, slice(0, 2)))

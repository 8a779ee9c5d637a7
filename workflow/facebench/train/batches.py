"""The training batches, made ahead of the step that trains on them.

A batch is a pure function of (seed, step): the sampler's indices for the step's epoch, this process's slice of them,
the faces gathered from the store's memory map, augmented with a generator seeded by (seed, step). ``make_batch``
computes one; ``Prefetcher`` computes them in order in one background thread, a bounded queue ahead of the loop, so
the memory-map gather and the augmentation overlap the device's work on the current step. Because nothing in a batch
depends on when it is made, the batches (and so the run) are the same with and without the thread.

Under data parallelism each process gathers and augments only its own slice of the global batch
(``World.shard``); ``augment`` draws for the whole batch and takes the slice's draws, so the slices together are
the batch one process would make.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from facebench.train.augment import augment as default_augment

DEPTH = 2  # batches made ahead: one ready while the next is made; more would only hold memory


@dataclass
class Batch:
    step: int
    faces: torch.Tensor  # this process's augmented faces, float N x H x W x 3 in 0..255 (pinned for CUDA)
    labels: torch.Tensor  # their class indices, int64 (pinned for CUDA)
    size: int  # faces in the global batch (all processes together)


class Batches:
    """What makes the batch of a step: the training faces, the sampler, the augmentation and this process's share.

    ``augment`` is passed in (the loop passes its own name for it) so a test can wrap it. ``threads``: the torch
    threads the background thread makes batches with (default: the loop's). The pixels of a ``degrade`` batch round
    a few ulps differently with it (torch's bilinear enlarging), so it is fixed, not left to ``train.threads``."""

    def __init__(self, faces: np.ndarray, rows: np.ndarray, labels: np.ndarray, sampler, *, seed: int,
                 options: dict, shard: Callable[[int], slice], pin: bool = False, augment=default_augment,
                 threads: int | None = None):
        self.faces, self.rows, self.labels, self.sampler = faces, rows, labels, sampler
        self.seed, self.options, self.shard, self.pin, self.augment = int(seed), options, shard, pin, augment
        self._epoch: tuple[int, list[np.ndarray]] | None = None
        # a new thread starts with OpenMP's default thread count, so it is always set
        self.threads = torch.get_num_threads() if threads is None else int(threads)

    def indices(self, step: int) -> np.ndarray:
        """The global batch's indices into the training set (the sampler's, cached for the step's epoch)."""
        epoch, within = divmod(step, self.sampler.steps_per_epoch)
        if self._epoch is None or self._epoch[0] != epoch:
            self._epoch = (epoch, self.sampler.batches(epoch))
        return self._epoch[1][within]

    def make(self, step: int) -> Batch:
        idx = self.indices(step)
        mine = self.shard(len(idx))
        part = idx[mine]
        x = torch.from_numpy(self.faces[self.rows[part]])  # the gather reads only this process's faces
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        whole = len(part) == len(idx)  # one process: augment called as it always was
        x = self.augment(x, self.options, gen) if whole else self.augment(x, self.options, gen,
                                                                           part=(len(idx), mine))
        y = torch.from_numpy(self.labels[part])
        if self.pin:  # page-locked memory: the copy to the GPU can then overlap the step (non_blocking)
            x, y = x.pin_memory(), y.pin_memory()
        return Batch(step, x, y, len(idx))


class Prefetcher:
    """Batches of steps ``start``..``stop - 1`` made in a background thread, at most ``DEPTH`` ahead; ``next()``
    returns them in order. An error in the thread is raised by the ``next()`` that would have returned its batch;
    ``close()`` (or leaving the ``with``) stops the thread, also when the loop stops early."""

    def __init__(self, batches: Batches, start: int, stop: int, depth: int = DEPTH):
        self.batches, self.step, self.stop_at = batches, start, stop
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._produce, args=(start, stop), name="facebench-batches",
                                       daemon=True)
        self.thread.start()

    def _produce(self, start: int, stop: int) -> None:
        torch.set_num_threads(self.batches.threads)
        for step in range(start, stop):
            try:
                item = self.batches.make(step)
            except BaseException as err:  # handed to the loop, which raises it in the main thread
                item = err
            while not self.stopping.is_set():
                try:
                    self.queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if self.stopping.is_set() or isinstance(item, BaseException):
                return

    def next(self) -> Batch:
        if self.step >= self.stop_at:
            raise IndexError(f"no batch after step {self.stop_at - 1}")
        while True:
            try:
                item = self.queue.get(timeout=1.0)
                break
            except queue.Empty:
                if not self.thread.is_alive():  # it ended without handing over this batch (closed)
                    raise RuntimeError(f"the batch thread stopped before step {self.step}") from None
        if isinstance(item, BaseException):
            raise item
        assert item.step == self.step, (item.step, self.step)  # one producer, one FIFO queue: in order
        self.step += 1
        return item

    def close(self) -> None:
        self.stopping.set()
        while True:  # unblock a put in progress, and drop what was made ahead
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break
        self.thread.join()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def to_device(batch: Batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's faces and labels on ``device``; asynchronous from pinned memory (a plain copy otherwise)."""
    return (batch.faces.to(device, non_blocking=batch.faces.is_pinned()),
            batch.labels.to(device, non_blocking=batch.labels.is_pinned()))

"""Data-parallel scaling on CPU (config key train.processes): images/s of a whole training step (forward, loss,
backward with the gradient all-reduce, update) with 1 process and with N gloo processes on the same global batch,
the job's threads shared among the processes as the train rule shares them (runs PxT: P processes of T threads; the
default adds one process of one thread, to tell the gain of the processes from the cost of a thread team).

Each process runs the training loop's own pieces (``facebench.train.distributed``: the process group from torchrun's
environment variables, set here as torchrun sets them, the joined backbone + head under DistributedDataParallel, a
contiguous slice of the batch) on random input of the backbone's size. Writes results/bench/ddp_scaling.json.
"""
from __future__ import annotations

import argparse
import os
import socket
import time

import torch
import torch.multiprocessing as mp
from _common import cpu_ticks, steal_share, write
from facebench import losses, runtime
from facebench.models import build
from facebench.train import distributed

BACKBONE, ARGS, SIZE, CLASSES = "irse8", {"embedding_size": 128}, (112, 112), 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank, size, port, threads, batch, warmup, steps, results):
    os.environ.update(WORLD_SIZE=str(size), RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    runtime.keep_freed_memory()  # as `facebench train` sets up each process
    runtime.set_threads(threads)
    runtime.flush_denormals()
    with distributed.world(torch.device("cpu")) as world:
        torch.manual_seed(0)
        model = build(BACKBONE, input_size=SIZE, **ARGS).train()
        head = losses.build("cosface", model.embedding_size, CLASSES)
        net = distributed.parallel(model, head, None, world)
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        gen = torch.Generator().manual_seed(0)
        mine = world.shard(batch)
        x = torch.randn(batch, 3, *SIZE, generator=gen)[mine]
        y = torch.randint(0, CLASSES, (batch,), generator=gen)[mine]

        def one():
            out = net(x, y)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()

        for _ in range(warmup):  # allocator, oneDNN kernel choice, DDP's first-step bucket rebuild
            one()
        world.barrier()
        t0 = time.perf_counter()
        for _ in range(steps):
            one()
        world.barrier()
        if world.main:
            results.put(batch * steps / (time.perf_counter() - t0))


def measure(processes, threads, batch, warmup, steps) -> dict:
    results = mp.get_context("spawn").SimpleQueue()
    mp.spawn(worker, args=(processes, free_port(), threads, batch, warmup, steps, results), nprocs=processes)
    return {"processes": processes, "threads_per_process": threads, "per_process_batch": batch // processes,
            "step_images_per_second": round(results.get(), 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", nargs="+", default=["1x2", "2x1", "1x1"],
                    help="PxT: P processes of T threads each (speedups are over the first)")
    ap.add_argument("--batch-size", type=int, default=32, help="the global batch (the same for every process count)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4, help="timed steps")
    args = ap.parse_args()
    load_before = os.getloadavg()
    before = cpu_ticks()
    rows = []
    for run in args.runs:
        processes, threads = map(int, run.split("x"))
        rows.append(measure(processes, threads, args.batch_size, args.warmup, args.steps))
        print(rows[-1], flush=True)
    base = rows[0]["step_images_per_second"]
    for row in rows:
        row["speedup_over_first"] = round(row["step_images_per_second"] / base, 2)
    write("ddp_scaling", {
        "device": "cpu", "backend": "gloo", "backbone": BACKBONE, "args": ARGS, "input_size": list(SIZE),
        "loss": "cosface", "classes": CLASSES, "global_batch": args.batch_size,
        "warmup_steps": args.warmup, "timed_steps": args.steps, "runs": rows,
        "load_average_before": [round(v, 2) for v in load_before],  # other jobs on the machine meanwhile
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "cpu_steal_share": steal_share(before, cpu_ticks()),
    })


if __name__ == "__main__":
    main()

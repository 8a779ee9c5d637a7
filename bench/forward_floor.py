"""The forward-compute floor of an embedding workload: how long the frozen network alone needs for a number of
forwards, with no decoding, alignment, store reads or scoring around it.

    python bench/forward_floor.py --forwards 70902          # lfw-local's 3 alignments x 11,817 images x 2 (flip)

The network is MobileFaceNet (128-d, 112 x 112, the lfw-local model's architecture; the weights do not change the
time) as the embed stage runs it on CPU: a frozen TorchScript graph with oneDNN layouts
(facebench.embed.inference_module), fed channels-last batches of 16, one stream on one intra-op thread per core.
The floor times ``--measure`` forwards after a warm-up and scales linearly to ``--forwards`` (the per-batch cost is
constant, so the scaling is exact up to the noise of the measured part; both numbers are in the JSON).
bench/dag_time.py calls ``floor_seconds`` after its DAG, on the same machine, for the ratio wall / floor.
Writes results/bench/forward_floor.json when run on its own.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_ticks, steal_share, write  # noqa: E402


def floor_seconds(forwards: int, *, measure: int = 6400, batch: int = 16, streams: int | None = None) -> dict:
    """Seconds the frozen MobileFaceNet needs for ``forwards`` face forwards, from ``measure`` of them timed."""
    import torch
    from facebench.embed import inference_module
    from facebench.models import build
    from facebench.runtime import one_thread_per_stream

    streams = streams or os.cpu_count() or 1
    torch.manual_seed(0)
    model = build("mobilefacenet", embedding_size=128).eval()
    example = torch.rand(batch, 3, 112, 112).contiguous(memory_format=torch.channels_last)
    batches = max(streams, -(-measure // batch))

    def run(_):
        with torch.inference_mode():
            net(example)

    with one_thread_per_stream(streams):
        net, kind = inference_module(model, torch.device("cpu"), example)
        with ThreadPoolExecutor(max_workers=streams) as pool:
            list(pool.map(run, range(2 * streams)))  # warm every stream's thread
            before, t0 = cpu_ticks(), time.perf_counter()
            list(pool.map(run, range(batches)))
            seconds = time.perf_counter() - t0
    timed = batches * batch
    return {"network": "mobilefacenet-128 (random weights)", "graph": kind, "batch": batch, "streams": streams,
            "memory_format": "channels_last", "timed_forwards": timed, "timed_seconds": round(seconds, 3),
            "forwards_per_second": round(timed / seconds, 1), "forwards": forwards,
            "floor_seconds": round(forwards * seconds / timed, 1), "cpu_steal_share": steal_share(before, cpu_ticks())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--forwards", type=int, default=3 * 11817 * 2)
    ap.add_argument("--measure", type=int, default=6400, help="forwards timed (scaled linearly to --forwards)")
    ap.add_argument("--streams", type=int, help="default: one per core")
    a = ap.parse_args()
    write("forward_floor", floor_seconds(a.forwards, measure=a.measure, streams=a.streams))
    return 0


if __name__ == "__main__":
    sys.exit(main())

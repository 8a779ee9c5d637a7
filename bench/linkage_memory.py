"""Peak memory of the agglomerative step of clustering (issue 22, target 5): the cosine distance matrix and average
linkage, as cluster_embeddings runs them, against the way before (scipy's squareform of the square float32 matrix
straight into linkage, the square matrix kept alive).

Each (way, size) runs in a fresh process (this script with ``--worker``) on synthetic unit vectors in identities of
four, and reports its peak RSS above what it held before the distances; both ways must give the same clusters.
Writes results/bench/linkage_memory.json.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
from _common import write


def worker(way: str, n: int) -> dict:
    from facebench.analysis import clustering as c
    from facebench.evaluate.scores import unit_rows
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    rng = np.random.default_rng(0)
    f = unit_rows(rng.normal(size=(n // 4, 64))[np.arange(n) // 4] + 0.5 * rng.normal(size=(n, 64)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    d = c.cosine_distances(f)
    if way == "before":
        z = linkage(squareform(d, checks=False), method="average")
        labels = fcluster(z, int((z[:, 2] >= 0.5).sum()) + 1, criterion="maxclust")
    else:
        condensed = c.condensed_distances(d)
        del d
        labels = c.average_linkage_labels(condensed, n, 0.5)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"way": way, "images": n, "seconds": round(time.perf_counter() - t0, 2),
            "peak_above_start_mb": round((peak - before) / 1024, 1),
            "bytes_per_n_squared": round((peak - before) * 1024 / n ** 2, 2),
            "clusters": int(len(np.unique(labels))), "labels_digest": int(np.asarray(labels, np.int64) @
                                                                          np.arange(1, n + 1) % (2**61 - 1))}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[4000, 8000])
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker[0], int(a.worker[1]))))
        return
    runs = []
    for n in a.sizes:
        for way in ("before", "now"):
            out = subprocess.run([sys.executable, __file__, "--worker", way, str(n)], capture_output=True, text=True,
                                 check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(runs[-1], flush=True)
    same = all(b["labels_digest"] == c["labels_digest"] for b, c in zip(runs[::2], runs[1::2]))
    write("linkage_memory", {"runs": runs, "same_clusters": same,
                             "expected_bytes_per_n_squared": {"before": 12, "now": 8}})
    if not same:
        raise SystemExit("linkage_memory: the two ways gave different clusters")


if __name__ == "__main__":
    main()

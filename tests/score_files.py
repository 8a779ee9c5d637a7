"""A score file (TSV: score label fold path1 path2) of separable random scores, for the tests of the rules that read
score files (eval-pairs, dev-threshold, the summary and the report)."""
from pathlib import Path

import numpy as np


def write_score_file(path: Path, seed: int, n: int = 200) -> None:
    """``n`` pairs in 10 contiguous folds, each half same-person; same-person scores about 0.6, others about 0.2."""
    rng = np.random.default_rng(seed)
    label = np.tile(np.repeat([1, 0], n // 20), 10)
    score = np.where(label == 1, rng.normal(0.6, 0.15, n), rng.normal(0.2, 0.15, n))
    fold = np.repeat(np.arange(1, 11), n // 10)
    path.write_text("score\tlabel\tfold\tpath1\tpath2\n" + "".join(
        f"{s:.6f}\t{y}\t{f}\ta/{i}.jpg\tb/{i}.jpg\n" for i, (s, y, f) in enumerate(zip(score, label, fold))))

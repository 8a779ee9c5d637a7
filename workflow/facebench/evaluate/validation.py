"""Validation during training (config key ``models.<name>.train.validate``): verification accuracy and AUC on one
pairs protocol of a dataset, after every epoch.

The pair images come from the dataset's aligned-face store at the model's template (the store the embed stage
reads); a pair touching a face the align step failed is dropped and counted, as scoring does. Each image is embedded
once (plain features, no flip) and pairs are scored by cosine, as the main evaluation's ``plain`` mode. Accuracy is
the k-fold mean with the threshold chosen on the other folds (the pairs file's folds, exact threshold search), AUC
is the ROC's area (``facebench.evaluate.verification``, whose ROC and AUC the tests check against scikit-learn).
It runs under ``no_grad`` in eval mode and draws no random numbers, so a run with validation trains exactly as one
without.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facebench.data.protocols import read_pairs_tsv
from facebench.embed import eager_features
from facebench.evaluate.scores import cosine
from facebench.evaluate.verification import SortedScores, auc, contiguous_folds, kfold_accuracy, roc
from facebench.io import read_json, read_tsv, rows_of
from facebench.store import open_faces, read_index


@dataclass
class ValidationSet:
    # the epoch log's columns (work dir, then the summary); epoch = epochs completed (1 after the first; a run cut
    # short by train.steps ends with a fraction), unlike the step log's 0-based epoch of each step
    COLUMNS = ("step", "epoch", "val_accuracy", "val_auc")
    faces: np.ndarray  # the store's faces (memory map)
    rows: np.ndarray  # store rows to embed, each pair image once
    first: np.ndarray  # per pair: index into ``rows`` of its first image
    second: np.ndarray  # ... and of its second
    labels: np.ndarray  # 1 = same person
    folds: np.ndarray  # fold id per pair
    dropped: int  # pairs left out because the align step failed on one of their faces
    store: str  # the store and the pairs file, for the summary
    pairs: str
    template: str  # the faces' template

    def check_template(self, template: str, where: str) -> None:
        if self.template != template:
            raise ValueError(f"{where}: the validation store {self.store} holds {self.template!r} faces, the model "
                             f"takes {template!r}")

    def evaluate(self, model: torch.nn.Module, input_spec: dict, *, batch_size: int, device: torch.device,
                 amp_dtype=None) -> dict:
        """val_accuracy and val_auc of ``model`` (left in eval mode; the caller restores its mode)."""
        features = eager_features(model, self.faces, self.rows, input_spec, batch_size=batch_size, device=device,
                                  amp_dtype=amp_dtype)
        return metrics(features, self)

    def summary(self, epochs_tsv: Path) -> dict:
        """The validation part of a training summary: what was validated on, and the epoch log as a list of rows."""
        header, rows = read_tsv(epochs_tsv, expect=list(self.COLUMNS))
        table = [{c: (int(v) if c == "step" else float(v)) for c, v in zip(header, r)} for r in rows]
        return {"store": self.store, "pairs": self.pairs, "pairs_used": int(len(self.labels)),
                "dropped_pairs": self.dropped, "threshold_search": "exact", "epochs": table}


def load_validation_set(store_dir, pairs_tsv, where: str) -> ValidationSet:
    """The pairs of ``pairs_tsv`` whose faces are in the store; ``where`` names the config key in errors."""
    held = read_json(Path(store_dir) / "summary.json")["template"]
    index = read_index(store_dir)
    pairs = read_pairs_tsv(pairs_tsv)
    n = len(pairs["label"])
    both = rows_of(index.paths, np.concatenate([pairs["path1"], pairs["path2"]]).tolist(),
                   lambda k, first: f"{where}: {k} pair image(s) of {pairs_tsv} are not in the store {store_dir}, "
                                    f"e.g. {first}")
    ok = np.array([index.status[r] != "failed" for r in both], dtype=bool)
    ok = ok[:n] & ok[n:]
    rows, inverse = np.unique(np.concatenate([both[:n][ok], both[n:][ok]]), return_inverse=True)
    kept = int(ok.sum())
    labels, folds = pairs["label"][ok], pairs["fold"][ok]
    if len(set(labels.tolist())) < 2:
        raise ValueError(f"{where}: {pairs_tsv} needs same-person and different-person pairs ({kept} usable)")
    if len(set(folds.tolist())) < 2:  # a pairs file without folds: contiguous ones, as eval-pairs --folds does
        folds = contiguous_folds(kept, 10)
    return ValidationSet(open_faces(store_dir), rows, inverse[:kept], inverse[kept:], labels, folds,
                         int(n - kept), str(store_dir), str(pairs_tsv), held)


def metrics(features: np.ndarray, val: ValidationSet) -> dict:
    """val_accuracy (k-fold mean, exact threshold search) and val_auc of the pairs' cosine scores."""
    ss = SortedScores.of(cosine(features[val.first], features[val.second]), val.labels)
    fpr, tpr, _ = roc(sorted_scores=ss)
    return {"val_accuracy": kfold_accuracy(None, None, val.folds, search="exact", sorted_scores=ss).accuracy,
            "val_auc": auc(fpr, tpr)}

"""``facebench`` commands for training one model of config."""
from __future__ import annotations

import json

from facebench import schema
from facebench.cli.common import json_arg


def cmd_train(a):
    from facebench import runtime
    from facebench.train.loop import train_model

    if (a.val_store is None) != (a.val_pairs is None):
        raise ValueError(f"models.{a.name}.train.validate: validation needs both the store and the pairs file "
                         "(--val-store, --val-pairs)")
    runtime.keep_freed_memory()
    runtime.set_threads(a.threads)
    runtime.flush_denormals()
    validation = None
    if a.val_pairs:  # built here: training does not import evaluation (the layers run one way)
        from facebench.evaluate.validation import load_validation_set

        validation = load_validation_set(a.val_store, a.val_pairs, f"models.{a.name}.train.validate")
    summary = train_model(a.name, a.spec, store_dir=a.store, train_list=a.train_list, model_out=a.out,
                          log_out=a.log, summary_out=a.summary, work_dir=a.work, init_model=a.init,
                          device=runtime.pick_device(a.device), validation=validation)
    if summary is not None:  # under torchrun, rank 0's
        print(json.dumps(summary))


def register(add) -> None:
    sp = add("train", cmd_train, "train one model of config (backbone + loss) on a dataset's aligned faces")
    sp.add_argument("name", help="the model's key in config (models.NAME)")
    sp.add_argument("--spec", type=json_arg, required=True, help="the model's config mapping, as JSON")
    sp.add_argument("--store", required=True, help="the aligned-face store of the training dataset")
    sp.add_argument("--train-list", required=True, help="TSV with columns path, identity")
    sp.add_argument("--init", help="a model file whose weights start the backbone, and the head where its classes "
                                   "match (fine-tuning)")
    sp.add_argument("--val-store", help="validation after every epoch: the aligned-face store holding the pairs' faces")
    sp.add_argument("--val-pairs", help="validation after every epoch: the pairs TSV (fold path1 path2 label)")
    sp.add_argument("--out", required=True, help="the trained model file")
    sp.add_argument("--log", required=True, help="per-step TSV log")
    sp.add_argument("--summary", required=True, help="JSON summary of the run")
    sp.add_argument("--work", required=True, help="folder for the resumable state")
    sp.add_argument("--threads", type=int, help="torch threads (of each process, under torchrun)")
    sp.add_argument("--device", default=schema.default("models.*.train.device"))

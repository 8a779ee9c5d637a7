"""The training loop: one model (backbone + loss, on one dataset's aligned faces) from its config to a model file.

- Data: the aligned-face store (decode-free memory map), the training list ``path identity``, batches from
  ``Sampler`` (PK batches for losses that need pairs), augmentation seeded by (seed, step), made ahead of the step in
  a background thread (``train.batches``; pinned memory for the GPU).
- GPU: channels_last model and inputs and cuDNN autotuning (``train.layout``); the loss parts stay on the device
  and are read only at logged steps (``train.stepvalues``), so the host does not wait for the GPU every step.
- Optimiser: SGD with momentum, linear warmup, then a step or cosine schedule; AMP on GPU.
- Safety: the state is saved every ``checkpoint_every`` steps and on SIGTERM/SIGINT; a rerun resumes from it and, on
  CPU, reaches the same weights as an uninterrupted run; a non-finite loss stops the run with a clear error and
  leaves the last good state on disk.
- Fine-tuning: ``init`` starts the backbone from another model file, and its loss head too where the classes match
  (``start_head``); ``trainable`` freezes all but the output layer or the head (``train.freeze``).
- Validation: with a pairs protocol (``validate``), verification accuracy and AUC after every epoch
  (``train.validate``), in the embed stage's precision (fp32, autocast off, no TF32), kept in an epoch log beside the
  step log and reported in the summary.
- Data parallel: under torchrun (``train.processes`` > 1, ``facebench.train.distributed``) every process gathers and
  augments only its slice of the global batch; gradients, logged loss and accuracy are averaged over the processes;
  only rank 0 validates and writes the state, the logs and the outputs.
- Outputs: the model file (``models.checkpoint`` format, what the embed stage reads, with the head's class weights),
  a per-step TSV log (step, epoch, loss, accuracy, lr, images/s and the loss's parts) and a summary JSON.
"""
from __future__ import annotations

import contextlib
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facebench import losses, runtime, schema
from facebench.io import atomic_path, read_json, read_tsv, rows_of, write_json
from facebench.models import build
from facebench.models.checkpoint import load_head, load_model, save_model
from facebench.models.inputs import to_model_input
from facebench.store import open_faces, read_index
from facebench.templates import backbone_args
from facebench.train import distributed, layout
from facebench.train.augment import augment
from facebench.train.batches import Batches, Prefetcher, to_device
from facebench.train.checkpoint import load_state, save_state, spec_digest
from facebench.train.freeze import freeze, set_train_mode
from facebench.train.precision import amp_dtype as _amp_dtype
from facebench.train.sampler import Sampler
from facebench.train.steplog import StepLog
from facebench.train.stepvalues import StepValues

LOG_COLUMNS = ["step", "epoch", "loss", "accuracy", "lr", "images_per_second"]

# the training options' defaults (config key models.<name>.train): the schema's, and for the options it leaves
# unset (a filled-in default would change a model's spec digest), what leaving them out means
DEFAULTS = {"steps": None, "pk": None, "init": None, "validate": None, "trainable": "all",
            **schema.defaults("models.*.train")}


class TrainingDiverged(RuntimeError):
    """A non-finite loss: the run stops, the last good state stays on disk."""

    exit_code = 3


class Interrupted(RuntimeError):
    """A signal stopped the run after its state was saved; rerunning resumes it."""

    exit_code = 143


@dataclass
class TrainingSet:
    faces: np.ndarray  # the store's faces (memory map)
    rows: np.ndarray  # store row of each training face
    labels: np.ndarray  # class index of each training face
    identities: list[str]  # class index -> identity name
    dropped_failed: int  # faces the align step could not read


def load_training_set(store_dir, train_list) -> TrainingSet:
    index = read_index(store_dir)
    faces = open_faces(store_dir)
    header, rows = read_tsv(train_list, expect=["path", "identity"])
    paths = [r[header.index("path")] for r in rows]
    ids = [r[header.index("identity")] for r in rows]
    store_rows = rows_of(index.paths, paths, lambda n, first: f"{train_list}: {n} training image(s) are not in the "
                                                              f"store {store_dir}, e.g. {first}")
    keep = [k for k, r in enumerate(store_rows) if index.status[r] != "failed"]
    identities = sorted({ids[k] for k in keep})
    label_of = {name: i for i, name in enumerate(identities)}
    return TrainingSet(faces, store_rows[keep], np.array([label_of[ids[k]] for k in keep], dtype=np.int64),
                       identities, len(paths) - len(keep))


def lr_factor(step: int, total: int, schedule: dict, warmup: int) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based): linear warmup, then step or cosine decay.

    Step milestones are fractions of the run (0.5 = half-way) or absolute step numbers (>= 1).
    """
    if warmup and step < warmup:
        return (step + 1) / warmup
    kind = schedule.get("kind", "step")
    if kind == "cosine":
        span = max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / span)))
    if kind == "step":
        marks = [m * total if m < 1 else m for m in schedule.get("milestones", [])]
        return float(schedule.get("gamma", 0.1)) ** sum(step >= m for m in marks)
    if kind == "constant":
        return 1.0
    raise ValueError(f"config key train.schedule.kind: {kind!r} is not one of step, cosine, constant")


@contextlib.contextmanager
def stop_on_signal():
    """Turn SIGTERM/SIGINT into a flag the loop checks after each step (so the state is saved whole)."""
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum))
                for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield caught
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def head_record(head: losses.Loss, identities: list[str]) -> dict | None:
    """What the model file keeps of the loss head: its classifier's class weights, with what they classify."""
    classifier = head.classifying_head()
    if classifier is None:
        return None
    return {"loss": classifier.name, "embedding_size": classifier.embedding_size,
            "num_classes": classifier.num_classes, "identities": list(identities), "module": classifier}


def start_head(head: losses.Loss, init_model, identities: list[str]) -> str:
    """Load the init model's classifier weights into ``head``'s classifier where they classify the same identities
    with the same loss and embedding size; returns what happened, for the summary (``head_init``)."""
    if not init_model:
        return "fresh (no train.init)"
    classifier = head.classifying_head()
    if classifier is None:
        return f"fresh (loss {head.name!r} has no classifier)"
    saved = load_head(init_model)
    if saved is None:
        return f"fresh ({init_model} carries no head weights)"
    mine = head_record(head, identities)
    for key in ("loss", "embedding_size", "num_classes"):
        if saved.get(key) != mine[key]:
            return f"fresh (the init head's {key} is {saved.get(key)!r}, this one's {mine[key]!r})"
    if saved.get("identities") != mine["identities"]:
        return "fresh (the init head classifies other identities)"
    shapes = {k: tuple(v.shape) for k, v in classifier.state_dict().items()}
    if {k: tuple(v.shape) for k, v in saved["state_dict"].items()} != shapes:  # checked first: no partial load
        return "fresh (the init head's tensors do not fit this one's)"
    classifier.load_state_dict(saved["state_dict"], strict=True)
    return f"from {init_model}"


def check_fine_tuning(name: str, opts: dict, init_model, validation) -> None:
    """Options that only make sense together, named by config key."""
    where = f"models.{name}.train"
    if opts["trainable"] != "all" and not init_model:
        raise ValueError(f"{where}.trainable: {opts['trainable']!r} freezes the backbone, which needs {where}.init "
                         "(a random backbone would stay random)")
    if opts["validate"] and validation is None:
        raise ValueError(f"{where}.validate is set, but no validation store and pairs were given (--val-store, "
                         "--val-pairs)")


def train_model(name: str, spec: dict, *, store_dir, train_list, model_out, log_out, summary_out, work_dir,
                init_model=None, device: torch.device | None = None, validation=None) -> dict:
    """Train the model ``name`` of config (``spec`` = its config mapping, with ``train``) and write its outputs.

    ``work_dir`` keeps the resumable state (``state.pt``) and the growing logs; the declared outputs are written only
    when the run completes. ``validation`` (``facebench.evaluate.validation.ValidationSet``: the pairs of a protocol
    and their aligned faces at the model's template) turns on validation after every epoch; the caller builds it,
    so training does not import evaluation. Under torchrun (WORLD_SIZE > 1) every process calls it; rank 0
    returns the summary, the others None.
    """
    with distributed.world(device or torch.device("cpu")) as world:
        return _train(name, spec, world, store_dir=store_dir, train_list=train_list, model_out=model_out,
                      log_out=log_out, summary_out=summary_out, work_dir=work_dir, init_model=init_model,
                      validation=validation)


def _train(name: str, spec: dict, world: distributed.World, *, store_dir, train_list, model_out, log_out, summary_out,
           work_dir, init_model, validation) -> dict | None:
    from facebench.progress import bar

    device = world.device
    opts = {**DEFAULTS, **spec["train"]}
    check_fine_tuning(name, opts, init_model, validation)
    digest = spec_digest({"model": spec, "init": str(init_model) if init_model else None})
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    data = load_training_set(store_dir, train_list)
    store = read_json(Path(store_dir) / "summary.json")
    if store["template"] != spec["input"]["template"]:
        raise ValueError(f"models.{name}.input.template: {spec['input']['template']!r}, but the store {store_dir} "
                         f"holds {store['template']!r} faces")

    bargs = backbone_args(spec, f"models.{name}")
    torch.manual_seed(int(opts["seed"]))  # initial weights: the same seed gives the same network
    model = build(spec["backbone"], **bargs)
    loss_name = opts["loss"]
    head = losses.build(loss_name, model.embedding_size, len(data.identities), **opts["loss_args"])
    if init_model:
        source, _ = load_model(init_model)
        try:
            model.load_state_dict(source.state_dict(), strict=True)
        except RuntimeError as err:
            raise ValueError(f"models.{name}.train.init: {init_model} does not fit backbone "
                             f"{spec['backbone']} {bargs}: {str(err).splitlines()[0]}") from None
    head_init = start_head(head, init_model, data.identities)
    trainable, where_trainable = opts["trainable"], f"models.{name}.train.trainable"
    backbone_params = freeze(model, trainable, where_trainable)
    model.to(device)
    fmt = layout.prepare_model(model, device)  # channels_last + cudnn.benchmark on CUDA; CPU as it was
    set_train_mode(model, trainable, where_trainable)
    head.to(device).train()

    lr = float(opts["lr"])
    groups = ([{"params": backbone_params, "lr": lr}] if backbone_params else []) + head.param_groups(lr)
    if not groups:
        raise ValueError(f"{where_trainable}: {trainable!r} leaves nothing to train (loss {loss_name!r} has no "
                         "weights)")
    for g in groups:
        g["base_lr"] = g["lr"]
    optimizer = torch.optim.SGD(groups, lr=lr, momentum=float(opts["momentum"]),
                                weight_decay=float(opts["weight_decay"]))
    amp_dtype = _amp_dtype(opts["amp"], device)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None

    pk = tuple(opts["pk"]) if opts["pk"] else ((max(2, opts["batch_size"] // 4), 4) if head.needs_pairs else None)
    sampler = Sampler(data.labels, int(opts["batch_size"]), int(opts["seed"]), pk=pk)
    total = int(opts["steps"]) if opts["steps"] else int(opts["epochs"]) * sampler.steps_per_epoch
    if total < 1:
        raise ValueError(f"models.{name}.train: zero steps (epochs x {sampler.steps_per_epoch} steps per epoch)")
    parts, key = (pk[0], "pk") if pk else (sampler.batch_size, "batch_size")
    if parts % world.size:  # equal slices, of whole identity groups for PK batches
        raise ValueError(f"models.{name}.train.{key}: {'P = ' if pk else ''}{parts} does not split evenly over "
                         f"{world.size} processes (train.processes)")

    state_path = work_dir / "state.pt"
    # the digest hashes config (device/amp "auto"); the state also keeps what they resolved to, and a resume checks it
    resolved = {"device": device.type, "amp": str(amp_dtype).replace("torch.", "") if amp_dtype else "off"}
    state = load_state(state_path, digest, resolved)
    start = 0
    if state is not None:
        model.load_state_dict(state["model"])
        head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        if scaler is not None and state["scaler"]:
            scaler.load_state_dict(state["scaler"])
        start = int(state["step"])
    resumed_from = start
    saved = [start if state is not None else None]  # the step the state on disk holds, for the NaN message
    net = distributed.parallel(model, head, amp_dtype, world)  # after the resume: DDP starts from rank 0's weights

    def save(step):
        if world.main:  # every process holds the same weights: one writes them
            save_state(state_path, digest=digest, step=step, model=model, head=head, optimizer=optimizer,
                       scaler=scaler, resolved=resolved)
        saved[0] = step

    val = validation
    if val is not None:
        val.check_template(spec["input"]["template"], f"models.{name}.train.validate")
    epochs = StepLog(work_dir / "epochs.tsv", list(val.COLUMNS), resumed_from) if val and world.main else None

    def run_validation(step):
        # in the embed stage's precision (fp32, autocast off), not the training's AMP dtype: bf16 features moved LFW
        # accuracy by 0.05-0.1 pp, so an AMP validation would not match the evaluated model
        with torch.autocast(device.type, enabled=False), runtime.ieee_fp32(device):
            result = val.evaluate(model, spec["input"], batch_size=sampler.batch_size, device=device, amp_dtype=None)
        set_train_mode(model, trainable, where_trainable)  # back from eval: frozen modules stay in eval mode
        epochs.write({"step": step, "epoch": step / sampler.steps_per_epoch, **result})

    log = None
    values = StepValues(world, never=total)
    seconds, images, window = 0.0, 0, [0.0, 0]  # window: seconds and images since the last logged step
    last = {}
    every = {"log": int(opts["log_every"]), "checkpoint": int(opts["checkpoint_every"])}
    vote = distributed.StopVote(world)
    # on CPU the step keeps every core busy, and a batch thread with an OpenMP team of its own as large competes with
    # it: one thread there gave 20% more images/s (bf16) and 11% (fp32), sphere20/2 on 2 cores (docs/training.md)
    batches = Batches(data.faces, data.rows, data.labels, sampler, seed=int(opts["seed"]), options=opts["augment"],
                      shard=world.shard, pin=device.type == "cuda", augment=augment,
                      threads=None if device.type == "cuda" else 1)

    def diverged():  # read the device's record of non-finite losses: raise before anything is written
        bad = values.first_bad_step()
        if bad is None:
            return
        kept = (f"the last good state (step {saved[0]}) is kept in {state_path}" if saved[0] is not None
                else f"no state was saved yet (the first is at step {opts['checkpoint_every']})")
        raise TrainingDiverged(
            f"models.{name}: the loss is {bad[1]} at step {bad[0]} (epoch {bad[0] // sampler.steps_per_epoch}); "
            f"{kept}. Lower models.{name}.train.lr or add warmup_steps.")

    with stop_on_signal() as caught, Prefetcher(batches, start, total) as ahead, \
            bar(total * sampler.batch_size, f"train {name}", initial=start * sampler.batch_size,
                disable=not world.main) as pbar:
        for step in range(start, total):
            t0 = time.perf_counter()
            epoch = step // sampler.steps_per_epoch
            batch = ahead.next()
            x, y = to_device(batch, device)
            x = layout.as_input(to_model_input(x, spec["input"]), fmt)
            factor = lr_factor(step, total, opts["schedule"], int(opts["warmup_steps"]))
            for g in optimizer.param_groups:
                g["lr"] = g["base_lr"] * factor
            out = net(x, y)
            acc = None if out.logits is None else (out.logits.argmax(1) == y).float().mean()
            values.add(step, {"loss": out.loss, "accuracy": acc, **out.parts})  # on the device: no wait here
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(out.loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                out.loss.backward()
                optimizer.step()
            done = step + 1
            stop = vote(bool(caught))
            logged = done % every["log"] == 0 or done == total
            validating = val is not None and (done % sampler.steps_per_epoch == 0 or done == total)
            if logged or validating or stop or (done % every["checkpoint"] == 0 and done < total):
                diverged()  # every process reads the same reduced record, so all stop together
            if logged:  # the one wait for the device (and reduction over the processes) in a logging window
                last = {"step": done, "epoch": epoch, **values.read(), "lr": optimizer.param_groups[0]["lr"]}
            dt = time.perf_counter() - t0  # after the read: the device's queued work is counted at logged steps
            seconds += dt
            images += batch.size  # the global batch: images/s of all processes together
            window = [window[0] + dt, window[1] + batch.size]
            if logged:
                last["images_per_second"] = window[1] / window[0] if window[0] > 0 else None
                window = [0.0, 0]
                if log is None and world.main:
                    log = StepLog(work_dir / "log.tsv", LOG_COLUMNS + sorted(out.parts), resumed_from)
                if log is not None:
                    log.write(last)
                pbar.set_postfix(loss=f"{last['loss']:.3f}", acc="-" if last["accuracy"] is None
                                 else f"{last['accuracy']:.3f}", refresh=False)
            if validating:
                if world.main:
                    run_validation(done)  # before any save: a state at an epoch's end has its validation logged
                world.barrier()  # the other processes wait for rank 0's validation
            pbar.update(batch.size)
            if stop:
                save(done)
                if log is not None:
                    log.close()
                if epochs is not None:
                    epochs.close()
                by = f"signal {caught[0]}" if caught else "a signal to another process"
                raise Interrupted(f"models.{name}: stopped by {by} after step {done}; the state is saved in "
                                  f"{state_path}, rerun to resume")
            if done % every["checkpoint"] == 0 and done < total:
                save(done)
    if log is not None:
        log.close()
    if epochs is not None:
        epochs.close()
    save(total)
    if not world.main:
        return None

    model.eval()
    meta = {"loss": loss_name, "loss_args": opts["loss_args"], "train_dataset_images": int(len(data.rows)),
            "identities": len(data.identities), "steps": total, "spec_digest": digest}
    save_model(model_out, model.cpu(), backbone=spec["backbone"], backbone_args=bargs,
               input_spec=spec["input"], meta=meta, head=head_record(head.cpu(), data.identities))
    with atomic_path(log_out, suffix=".tsv") as tmp:
        tmp.write_bytes((work_dir / "log.tsv").read_bytes())
    summary = {"model": name, "label": spec.get("label") or name, "spec": spec, "backbone": spec["backbone"],
               "loss": loss_name, "device": str(device),
               "amp": resolved["amp"], "steps": total,
               "steps_per_epoch": sampler.steps_per_epoch, "batch_size": sampler.batch_size,
               "pk": list(pk) if pk else None, "faces": int(len(data.rows)), "identities": len(data.identities),
               "dropped_failed_faces": data.dropped_failed, "resumed_from_step": resumed_from,
               "seconds_this_run": round(seconds, 2),
               "images_per_second": round(images / seconds, 2) if seconds > 0 else None,
               "final": {k: last.get(k) for k in ("loss", "accuracy")}, "spec_digest": digest,
               "trainable": trainable, "head_init": head_init, "processes": world.size, "backend": world.backend,
               "validation": None}
    if val is not None:
        summary["validation"] = val.summary(work_dir / "epochs.tsv")
        for row in summary["validation"]["epochs"][-1:]:
            summary["final"].update({k: row[k] for k in ("val_accuracy", "val_auc")})
    write_json(summary_out, summary)
    return summary

"""Local stand-ins for the formats a model zoo arrives in, made from the profiles' ``pretrained`` MobileFaceNet.

The public files (insightface's ONNX models, other projects' checkpoints) cannot be downloaded here, so the DAG tests
feed the workflow the same network in their formats: exported to ONNX, and saved under another container key with
key names of another project, in the same tensor order (``map: by-order``). Whatever goes through the workflow must
then reproduce the ``pretrained`` model's features.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

PREFIX = "arcface."  # the pretrained file's key prefix (config/smoke.yaml models.pretrained.weights.key_prefix)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pretrained(state_file: Path):
    import torch
    from facebench.models import build

    state = torch.load(state_file, map_location="cpu", weights_only=True)
    model = build("mobilefacenet", embedding_size=128, input_size=[112, 112]).eval()
    model.load_state_dict({k[len(PREFIX):]: v for k, v in state.items()}, strict=True)
    return model


def onnx_export(state_file: Path, out: Path) -> str:
    """The pretrained network as an ONNX file with a dynamic batch (input ``faces``, output ``embedding``); its
    sha256."""
    import torch

    model = _pretrained(state_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (torch.zeros(2, 3, 112, 112),), str(out), dynamo=False, input_names=["faces"],
                      output_names=["embedding"], dynamic_axes={"faces": {0: "n"}, "embedding": {0: "n"}})
    return _sha256(out)


def by_order_checkpoint(state_file: Path, out: Path) -> str:
    """The pretrained weights under ``net_state_dict`` beside training state, every key renamed to ``layer<i>.<what>``
    (nothing of our names left), in our order; its sha256."""
    import torch

    state = torch.load(state_file, map_location="cpu", weights_only=True)
    renamed = {f"layer{i}.{key.rsplit('.', 1)[-1]}": v for i, (key, v) in enumerate(state.items())}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"net_state_dict": renamed, "epoch": 30, "optimizer": {"lr": 0.001}}, out)
    return _sha256(out)


def add_to_profile(cfg: dict, folder: Path) -> None:
    """Adds ``pretrained-onnx`` and ``pretrained-by-order`` (the stand-ins, written into ``folder``) to a profile
    that has the ``pretrained`` model, each evaluated on the alignments ``pretrained`` is evaluated on first."""
    base = cfg["models"]["pretrained"]
    source = Path(base["weights"]["path"])
    onnx_file, ckpt_file = folder / "standins" / "pretrained.onnx", folder / "standins" / "pretrained-by-order.pth"
    cfg["models"]["pretrained-onnx"] = {
        "label": "MobileFaceNet-ArcFace as ONNX (stand-in)", "backbone": "onnx", "input": dict(base["input"]),
        "weights": {"path": str(onnx_file), "sha256": onnx_export(source, onnx_file)}}
    cfg["models"]["pretrained-by-order"] = {
        "label": "MobileFaceNet-ArcFace, imported by order (stand-in)", "backbone": "mobilefacenet",
        "backbone_args": dict(base.get("backbone_args", {})), "input": dict(base["input"]),
        "weights": {"path": str(ckpt_file), "sha256": by_order_checkpoint(source, ckpt_file),
                    "container": "net_state_dict", "map": "by-order"}}
    first = next(e for e in cfg["evaluate"] if e["model"] == "pretrained")["alignments"][:1]
    cfg["evaluate"] += [{"model": m, "dataset": "lfw", "alignments": first}
                        for m in ("pretrained-onnx", "pretrained-by-order")]

"""``facebench`` commands for models: published checkpoints imported into the project's model format.

The published file is fetched first, by ``facebench fetch-file`` (the workflow's fetch_weights rule, a local job: a
cluster node may have no network); ``import-weights`` reads that verified copy and leaves it in place. A torch
checkpoint's tensors are mapped onto the project's backbone (models/convert.py); an ONNX model (``backbone: onnx``) is
checked against the model's input and output config and stored whole inside the model file (models/onnx_backbone.py).
"""
from __future__ import annotations

from pathlib import Path

from facebench.cli.common import json_arg


def cmd_import_weights(a):
    from facebench.data.download import origin, verify
    from facebench.models.checkpoint import save_model
    from facebench.templates import backbone_args

    spec, key = a.spec, f"models.{a.name}.weights"
    weights, source = spec["weights"], Path(a.source)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no fetched checkpoint for {key} (`facebench fetch-file --key {key}` "
                                "writes it; in the workflow, rule fetch_weights)")
    # the file is the fetched one: a whole download, or the archive member the source names
    field = "member_sha256" if "member" in weights else "sha256"
    digest = verify(source, weights.get(field), key=key, field=field, origin=str(source))
    bargs = backbone_args(spec, f"models.{a.name}")
    if spec["backbone"] == "onnx":
        model, bargs, report = _onnx_model(source, spec, bargs, f"models.{a.name}")
        done = f"ONNX model ({report['onnx_producer'] or 'unknown producer'})"
    else:
        from facebench.models import build
        from facebench.models.convert import import_checkpoint

        model = build(spec["backbone"], **bargs)
        report = import_checkpoint(source, model, weights, key)
        done = f"{report['tensors']} tensors, {report['parameters']} parameters"
    save_model(a.out, model, backbone=spec["backbone"], backbone_args=bargs, input_spec=spec["input"],
               meta={"origin": origin(weights), "source_sha256": weights.get("sha256"), "imported_sha256": digest,
                     **({"member": weights["member"]} if "member" in weights else {}), **report})
    print(f"{a.name}: {done} imported from {source}")


def _onnx_model(source: Path, spec: dict, bargs: dict, where: str):
    """(the module holding the file, its backbone_args, the report): the file checked against the config first; the
    import, not config, gives the arguments that describe the file (its length) and how it is fed (the layout)."""
    from facebench.models.onnx_backbone import inspect_onnx, onnx_module

    data = source.read_bytes()
    report = inspect_onnx(data, spec, where, origin=str(source))
    bargs = {**bargs, "model_bytes": len(data), "layout": spec["input"].get("layout", "nchw")}
    model = onnx_module(data, **{k: v for k, v in bargs.items() if k != "model_bytes"})
    return model, bargs, {**report, "bytes": len(data)}


def register(add) -> None:
    sp = add("import-weights", cmd_import_weights, "import a fetched published checkpoint (torch or ONNX) into the "
             "project's format")
    sp.add_argument("name")
    sp.add_argument("--spec", type=json_arg, required=True, help="the model's config mapping, as JSON")
    sp.add_argument("--source", required=True,
                    help="the checkpoint as fetched from models.<name>.weights (facebench fetch-file); not changed")
    sp.add_argument("--out", required=True)

"""ONNX models (backbone onnx, run by onnxruntime): a project model exported to ONNX and imported through
``facebench import-weights`` embeds a store as the torch model does, whatever its layout or fixed batch; a file that
does not fit its config is refused with one message naming the key to change.

The ONNX stand-ins are exported here from a small project model (MobileFaceNet, random weights with its batch-norm
statistics set from random faces, so features are of unit scale, not the ~1e-4 of untouched statistics), so nothing
depends on ../shared or the network. Export needs the ``onnx`` package (a test dependency only): skipped without it.
"""
from __future__ import annotations

import copy
import hashlib
import json
import warnings

import numpy as np
import pytest
import torch
import yaml
from facebench import align, embed
from facebench.cli import main
from facebench.config import ConfigError, validate_config
from facebench.evaluate.scores import score_pairs
from facebench.evaluate.verification import evaluate_pairs
from facebench.io import load_npz
from facebench.models import build
from facebench.models.checkpoint import load_model, save_model
from facebench.store import open_faces
from test_embed import random_faces
from torch import nn

pytest.importorskip("onnx", reason="torch.onnx.export needs the onnx package (requirements.txt, tests only)")

SPEC = {"template": "arcface112", "channels": "rgb", "mean": [0.5] * 3, "std": [0.5] * 3}
ARGS = {"embedding_size": 32}
N_FACES = 12


def calibrated_mobilefacenet() -> nn.Module:
    """MobileFaceNet from random weights whose batch norms hold the statistics of random inputs."""
    torch.manual_seed(0)
    model = build("mobilefacenet", **ARGS)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # a plain average over the calibration batch
    model.train()
    with torch.no_grad():
        model(torch.randn(16, 3, 112, 112))
    return model.eval()


def export(module: nn.Module, path, shape=(2, 3, 112, 112), *, dynamic=True, output="features"):
    """``module`` as an ONNX file (TorchScript exporter), its batch axis symbolic unless ``dynamic`` is False."""
    axes = {"faces": {0: "n"}, output: {0: "n"}} if dynamic else None
    with warnings.catch_warnings():  # the exporter's deprecation and tracer warnings
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.randn(*shape),), str(path), dynamo=False, input_names=["faces"],
                          output_names=[output], dynamic_axes=axes, opset_version=17)
    return path


def onnx_spec(source, **input_keys) -> dict:
    return {"backbone": "onnx", "input": {**SPEC, **input_keys},
            "weights": {"path": str(source), "sha256": hashlib.sha256(source.read_bytes()).hexdigest()}}


def import_weights(spec: dict, source, out, name: str = "stand_in") -> tuple[int, str]:
    """``facebench import-weights`` in this process, as rule import_weights runs it; (exit code, stderr)."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["import-weights", name, "--spec", json.dumps(spec), "--source", str(source), "--out", str(out)])
    return code, err.getvalue()


class ChannelsLast(nn.Module):
    """A model that takes N x H x W x 3 faces, as some published ONNX files do."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.permute(0, 3, 1, 2))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("onnx")
    names = random_faces(tmp / "images", N_FACES)
    align.build_store(tmp / "images", names, tmp / "store", tpl=align.template("arcface112"), method="center",
                      frame=(150, 150))
    model = calibrated_mobilefacenet()
    save_model(tmp / "torch.pt", model, backbone="mobilefacenet", backbone_args=ARGS, input_spec=SPEC)
    source = export(model, tmp / "model.onnx")
    code, err = import_weights(onnx_spec(source), source, tmp / "onnx.pt")
    assert code == 0, err
    return tmp, model


def eager(model, tmp):
    with torch.inference_mode():
        x = embed.preprocess(np.asarray(open_faces(tmp / "store")), SPEC)
        return model(x).numpy(), model(x.flip(3)).numpy()


def assert_close(a, b):
    """Within 1e-5 of each other at the features' scale (unit here: fp32 rounding of two runtimes, not a change)."""
    assert np.abs(a - b).max() < 1e-5 * max(1.0, float(np.abs(b).max()))


def view2_metrics(emb) -> dict:
    """View 2-style metrics (10 folds, grid threshold) of every pair of the store's faces, plain and flip-concat."""
    paths = emb["paths"].tolist()
    ident = [p.split("/")[0] for p in paths]
    pairs = [(a, b) for a in range(len(paths)) for b in range(a + 1, len(paths))]
    p = {"path1": np.array([paths[a] for a, _ in pairs]), "path2": np.array([paths[b] for _, b in pairs]),
         "label": np.array([int(ident[a] == ident[b]) for a, b in pairs]), "fold": np.arange(len(pairs)) % 10}
    out = {}
    for mode in ("plain", "flip-concat"):
        s = score_pairs(emb, p, mode)
        out[mode] = evaluate_pairs(s["score"], s["label"], folds=s["fold"], search="grid")
    return out


def test_the_onnx_model_embeds_as_the_torch_model_does(setup):
    tmp, _ = setup
    _, info = load_model(tmp / "onnx.pt")  # the ONNX file travels inside the project's model file
    assert info["backbone"] == "onnx" and info["backbone_args"]["layout"] == "nchw"
    assert info["meta"]["onnx_input"] == {"name": "faces", "shape": ["n", 3, 112, 112], "type": "tensor(float)"}
    assert info["meta"]["onnx_producer"] == "pytorch" and info["meta"]["embedding_size"] == 32
    assert info["meta"]["onnx_producer"].startswith("pytorch")
    # batch 5 over 12 faces: a short last batch, which onnxruntime takes as it is (a symbolic batch axis)
    ref = embed.embed_store(tmp / "torch.pt", tmp / "store", tmp / "torch.npz", batch_size=5, streams=2)
    meta = embed.embed_store(tmp / "onnx.pt", tmp / "store", tmp / "onnx.npz", batch_size=5, streams=2)
    assert meta["graph"] == "onnxruntime" and meta["streams"] == 1 and meta["dim"] == 32
    assert ref["graph"] == "frozen+onednn"
    a, b = load_npz(tmp / "onnx.npz"), load_npz(tmp / "torch.npz")
    assert a["paths"].tolist() == b["paths"].tolist() and a["features"].shape == (N_FACES, 32)
    assert a["features"].dtype == np.float32
    assert np.abs(b["features"]).max() > 1  # features of unit scale: the tolerance below means something
    assert_close(a["features"], b["features"])
    assert_close(a["features_flip"], b["features_flip"])
    assert view2_metrics(a) == view2_metrics(b)


def test_eager_features_run_the_onnx_model(setup):
    tmp, model = setup
    onnx_model, info = load_model(tmp / "onnx.pt")
    faces = open_faces(tmp / "store")
    rows = np.array([3, 0, 7])
    got = embed.eager_features(onnx_model, faces, rows, info["input"], batch_size=2)
    assert_close(got, eager(model, tmp)[0][rows])


def test_channels_last_model(setup):
    tmp, model = setup
    source = export(ChannelsLast(model), tmp / "nhwc.onnx", shape=(2, 112, 112, 3))
    code, err = import_weights(onnx_spec(source, layout="nhwc"), source, tmp / "nhwc.pt")
    assert code == 0, err
    embed.embed_store(tmp / "nhwc.pt", tmp / "store", tmp / "nhwc.npz", batch_size=4)
    out, (ref, ref_flip) = load_npz(tmp / "nhwc.npz"), eager(model, tmp)
    assert_close(out["features"], ref)
    assert_close(out["features_flip"], ref_flip)


def test_a_model_exported_at_batch_one_takes_batches_of_four(setup):
    tmp, model = setup
    source = export(model, tmp / "b1.onnx", shape=(1, 3, 112, 112), dynamic=False)
    code, err = import_weights(onnx_spec(source), source, tmp / "b1.pt")
    assert code == 0, err
    _, info = load_model(tmp / "b1.pt")
    assert info["meta"]["onnx_batch"] == 1
    meta = embed.embed_store(tmp / "b1.pt", tmp / "store", tmp / "b1.npz", batch_size=4)
    out, (ref, ref_flip) = load_npz(tmp / "b1.npz"), eager(model, tmp)
    assert meta["n_images"] == N_FACES
    assert_close(out["features"], ref)
    assert_close(out["features_flip"], ref_flip)


class OneChannel(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, stride=4)

    def forward(self, x):
        return self.conv(x).flatten(1)


class Argmax(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=4)

    def forward(self, x):
        return self.conv(x).flatten(1).argmax(1)


def test_files_that_do_not_fit_the_config_are_refused_naming_the_key(setup):
    tmp, _ = setup
    source = tmp / "model.onnx"
    not_onnx = tmp / "not.onnx"
    not_onnx.write_bytes(b"this is not an ONNX model")
    one_channel = export(OneChannel(), tmp / "gray.onnx", shape=(2, 1, 112, 112))
    argmax = export(Argmax(), tmp / "argmax.onnx", output="label")
    cases = [
        (onnx_spec(not_onnx), not_onnx,
         f"config key models.stand_in.weights: {not_onnx} is not an ONNX model onnxruntime can load"),
        # the model takes 112 x 112, the template's crop is 96 wide
        ({**onnx_spec(source), "input": {**SPEC, "template": "sphereface96x112"}}, source,
         "config key models.stand_in.input: "),
        (onnx_spec(source, size=[128, 128]), source, "has shape ['n', 3, 112, 112], not Nx3x128x128"),
        (onnx_spec(source, layout="nhwc"), source, "config key models.stand_in.input: "),
        (onnx_spec(one_channel), one_channel, "1 channel(s) at axis 1, not 3"),
        ({**onnx_spec(source), "backbone_args": {"output": "683"}}, source,
         "config key models.stand_in.backbone_args.output: " + f"{source} has no output '683'; its outputs: "
         "'features' tensor(float) ['n', 32]"),
        (onnx_spec(argmax), argmax,
         f"config key models.stand_in.backbone_args.output: {argmax}'s output 'label' is tensor(int64), not features"),
    ]
    for spec, src, message in cases:
        out = tmp / "refused.pt"
        code, err = import_weights(spec, src, out)
        assert code == 2 and message in err, (message, err)
        assert err.count("config key") == 1, err  # one clear message
        assert not out.exists()
    _, err = import_weights({**onnx_spec(source), "input": {**SPEC, "template": "sphereface96x112"}}, source,
                            tmp / "refused.pt")
    assert "the configured input is nchw Nx3x112x96 (layout: models.stand_in.input.layout" in err, err


def test_config_refuses_nhwc_on_a_torch_backbone_and_training_an_onnx_model(root):
    smoke = yaml.safe_load((root / "config/smoke.yaml").read_text())
    schema = root / "workflow/schemas/config.schema.yaml"
    name, torch_model = next((n, m) for n, m in smoke["models"].items() if "train" in m)

    cfg = copy.deepcopy(smoke)
    cfg["models"][name]["input"]["layout"] = "nhwc"
    with pytest.raises(ConfigError, match=rf"config key models\.{name}\.input\.layout: 'nhwc' is for ONNX models"):
        validate_config(cfg, schema)

    cfg = copy.deepcopy(smoke)
    cfg["models"]["zoo"] = {"backbone": "onnx", "input": dict(SPEC), "train": copy.deepcopy(torch_model["train"])}
    with pytest.raises(ConfigError, match=r"config key models\.zoo\.train: backbone onnx .* cannot be trained"):
        validate_config(cfg, schema)

    cfg = copy.deepcopy(smoke)
    cfg["models"]["zoo"] = {"backbone": "onnx", "input": {**SPEC, "layout": "nhwc"},
                            "backbone_args": {"output": "683"}, "weights": {"path": "zoo.onnx"}}
    validate_config(cfg, schema)  # an imported ONNX model, channels-last, its output named
    cfg["models"][name]["train"]["init"] = "zoo"
    with pytest.raises(ConfigError, match=rf"config key models\.{name}\.train\.init: 'zoo' is an ONNX model"):
        validate_config(cfg, schema)
    cfg = copy.deepcopy(smoke)
    cfg["models"]["zoo"] = {"backbone": "onnx", "input": dict(SPEC), "weights": {"path": "zoo.onnx"},
                            "backbone_args": {"layout": "nhwc"}}  # set by the import from input.layout, not here
    with pytest.raises(ConfigError, match=r"models\.zoo\.backbone_args\.layout: onnx takes no argument 'layout'"):
        validate_config(cfg, schema)

"""Importing the published checkpoint: every tensor checked; weights-only loading refuses pickled code."""
from __future__ import annotations

import pickle

import pytest
import torch
from conftest import PRETRAINED, needs_shared
from facebench.models import build
from facebench.models.checkpoint import CheckpointError, load_model, load_weights_only, save_model
from facebench.models.convert import ConversionError, import_checkpoint, map_state_dict


def small_source():
    model = build("mobilefacenet")
    return {f"arcface.{k}": v.clone() for k, v in model.state_dict().items()}


def test_prefix_is_stripped_and_every_tensor_lands(tmp_path):
    src = small_source()
    torch.save(src, tmp_path / "ck.pth")
    model = build("mobilefacenet")
    report = import_checkpoint(tmp_path / "ck.pth", model, {"key_prefix": "arcface."})
    assert report["tensors"] == len(src)
    for k, v in model.state_dict().items():
        assert torch.equal(v, src[f"arcface.{k}"])


def test_shape_mismatch_missing_and_unexpected_are_all_reported():
    target = build("mobilefacenet").state_dict()
    src = small_source()
    src["arcface.features.weight"] = torch.zeros(64, 512, 1, 1)
    del src["arcface.last_bn.bias"]
    src["arcface.extra.weight"] = torch.zeros(3)
    with pytest.raises(ConversionError) as err:
        map_state_dict(src, target, {"key_prefix": "arcface."}, origin="ck.pth")
    msg = str(err.value)
    assert "ck.pth" in msg and "last_bn.bias" in msg and "extra.weight" in msg
    assert "features.weight: checkpoint (64, 512, 1, 1) vs model (128, 512, 1, 1)" in msg
    with pytest.raises(ConversionError, match="lacks the expected prefix"):
        map_state_dict({"conv1.conv.weight": torch.zeros(1)}, target, {"key_prefix": "arcface."})


class Evil:
    def __reduce__(self):
        return (print, ("code ran while loading",))


def test_a_checkpoint_carrying_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"state_dict": Evil()}, fh)
    with pytest.raises(CheckpointError, match="evil.pth: refused by weights-only loading"):
        load_weights_only(path)
    torch.save({"weights": torch.zeros(2), "hook": Evil()}, tmp_path / "evil2.pth")
    with pytest.raises(CheckpointError, match="refused"):
        import_checkpoint(tmp_path / "evil2.pth", build("mobilefacenet"), {})


def test_model_file_round_trip(tmp_path):
    model = build("mobilefacenet")
    save_model(tmp_path / "m.pt", model, backbone="mobilefacenet", backbone_args={"embedding_size": 128},
               input_spec={"template": "arcface112"})
    back, info = load_model(tmp_path / "m.pt")
    assert info["input"]["template"] == "arcface112"
    for k, v in model.state_dict().items():
        assert torch.equal(v, back.state_dict()[k])
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a facebench-model file"):
        load_model(tmp_path / "other.pt")


@needs_shared
def test_the_published_mobilefacenet_checkpoint_imports_exactly():
    model = build("mobilefacenet", embedding_size=128)
    report = import_checkpoint(PRETRAINED, model, {"key_prefix": "arcface."})
    assert report["tensors"] == 333
    model.eval()
    with torch.inference_mode():
        out = model(torch.zeros(2, 3, 112, 112))
    assert out.shape == (2, 128) and torch.isfinite(out).all()


# ---------------------------------------------------------------- the command: fetched file in, model file out
def import_weights_cli(tmp_path, source, **weights):
    """``facebench import-weights`` in this process, as rule import_weights runs it on rule fetch_weights' file."""
    import json

    from facebench.cli import main

    spec = {"backbone": "mobilefacenet", "input": {"template": "arcface112"},
            # a URL nothing answers: the command must read the fetched file, never download
            "weights": {"url": "https://127.0.0.1:9/never-fetched.pth", "key_prefix": "arcface.", **weights}}
    out = tmp_path / "model.pt"
    code = main(["import-weights", "pretrained", "--spec", json.dumps(spec), "--source", str(source),
                 "--out", str(out)])
    return code, out


def test_import_weights_reads_the_fetched_file_and_leaves_it(tmp_path, capsys):
    import hashlib

    source = tmp_path / "source.pth"
    torch.save(small_source(), source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    code, out = import_weights_cli(tmp_path, source, sha256=digest)
    assert code == 0, capsys.readouterr().err
    assert source.read_bytes() and hashlib.sha256(source.read_bytes()).hexdigest() == digest  # left as fetched
    _, info = load_model(out)
    assert info["meta"]["imported_sha256"] == digest and info["meta"]["origin"].endswith("never-fetched.pth")


def test_import_weights_refuses_a_source_that_is_not_the_pinned_file(tmp_path, capsys):
    source = tmp_path / "source.pth"
    torch.save(small_source(), source)
    code, out = import_weights_cli(tmp_path, source, sha256="0" * 64)
    err = capsys.readouterr().err
    assert code == 2 and "models.pretrained.weights.sha256: " in err and f"{source} has sha256" in err, err
    assert not out.exists() and source.exists()
    code, out = import_weights_cli(tmp_path, tmp_path / "absent.pth")
    err = capsys.readouterr().err
    assert code == 2 and "absent.pth: no fetched checkpoint for models.pretrained.weights" in err, err

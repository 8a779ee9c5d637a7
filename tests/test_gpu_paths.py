"""GPU-path choices shown on a CPU (issue 22): the AMP dtype ``auto`` picks, the MTCNN rule's gpu resource, IEEE fp32
(no TF32) for embedding and landmarks on CUDA, resume across devices and AMP dtypes, validation in fp32.

``torch.cuda`` is mocked with monkeypatch where a choice depends on the GPU; nothing here needs one.
"""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from conftest import ROOT
from facebench import runtime
from facebench.train import loop
from facebench.train.checkpoint import load_state, save_state
from facebench.train.precision import cpu_native_bf16
from facebench.weights import CheckpointError
from test_train import make_store, run, spec

CUDA = torch.device("cuda")


# ---------------------------------------------------------------- 1. amp: auto


def fake_gpu(monkeypatch, capability, *, has_emulation_argument=True):
    """torch.cuda answering as a GPU of ``capability`` would: bf16 native from 8.0, emulated below."""
    native = capability >= (8, 0)
    if has_emulation_argument:
        def is_bf16_supported(including_emulation=True):
            return native or including_emulation
    else:
        def is_bf16_supported():
            return True  # an older torch: emulation counts, and there is no way to ask otherwise
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)


@pytest.mark.parametrize("has_argument", [True, False])
@pytest.mark.parametrize("capability, expected", [((7, 0), torch.float16), ((7, 5), torch.float16),
                                                  ((6, 0), torch.float16), ((8, 0), torch.bfloat16),
                                                  ((9, 0), torch.bfloat16)])
def test_amp_auto_takes_bf16_only_where_the_gpu_has_it_natively(monkeypatch, capability, expected, has_argument):
    # V100 (7.0), T4 (7.5), P100 (6.0) emulate bf16, slower than fp32: fp16 with the gradient scaler there
    fake_gpu(monkeypatch, capability, has_emulation_argument=has_argument)
    assert loop._amp_dtype("auto", CUDA) == expected


def test_amp_names_and_cpu_are_unchanged(monkeypatch):
    fake_gpu(monkeypatch, (7, 0))
    assert loop._amp_dtype("bf16", CUDA) == torch.bfloat16  # asked for by name: emulated bf16 is still bf16
    assert loop._amp_dtype("fp16", CUDA) == torch.float16
    assert loop._amp_dtype("off", CUDA) is None
    assert loop._amp_dtype("auto", torch.device("cpu")) is None


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse avx2 avx512f", False),  # AVX-512 without BF16: emulated
    ("fpu avx2 avx512f avx512_bf16", True),
    ("fpu avx2 amx_bf16 amx_tile", True),
    ("fpu avx2 avx512_bf16x", False),  # a flag is matched whole, not as a prefix
])
def test_cpu_native_bf16_reads_the_cpus_feature_flags(tmp_path, flags, expected):
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    assert cpu_native_bf16(info) is expected
    assert cpu_native_bf16(tmp_path / "absent") is False


# ---------------------------------------------------------------- 2. landmarks_mtcnn asks for a GPU


def test_mtcnn_rule_asks_for_a_gpu_unless_its_device_is_cpu(tmp_path):
    """The dry run's job resources, as tests/test_slurm.py reads them for embed: on the smoke config (mtcnn device
    auto) landmarks_mtcnn asks for one GPU, with detect.mtcnn.device cpu for none."""
    from smoke import absolute_config

    def jobs(cfg: dict) -> dict:
        path = tmp_path / "smoke.yaml"
        path.write_text(yaml.safe_dump(cfg))
        out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(path), "--forceall",
                              "--directory", str(tmp_path), "results/landmarks/lfw/mtcnn.tsv"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return dict(re.findall(r"rule (\w+):.*?resources: ([^\n]*)", out.stdout, re.S))

    cfg = yaml.safe_load(absolute_config(tmp_path).read_text())
    assert "gpu=1" in jobs(cfg)["landmarks_mtcnn"]
    cfg["detect"]["mtcnn"]["device"] = "cpu"
    assert "gpu=0" in jobs(cfg)["landmarks_mtcnn"]


# ---------------------------------------------------------------- 3. IEEE fp32 on CUDA


def tf32_settings():
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    if hasattr(getattr(cudnn, "conv", None), "fp32_precision"):
        return cudnn.conv.fp32_precision, matmul.fp32_precision
    return cudnn.allow_tf32, matmul.allow_tf32


IEEE = ("ieee", "ieee") if hasattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision") else (False, False)


def test_ieee_fp32_turns_tf32_off_on_cuda_only_and_restores_it():
    before = tf32_settings()
    assert before != IEEE  # this torch's default: TF32 convolutions (what the fix is for)
    with runtime.ieee_fp32(torch.device("cpu")) as label:
        assert label == "fp32" and tf32_settings() == before
    with runtime.ieee_fp32(CUDA) as label:
        assert label == "fp32 (TF32 off)" and tf32_settings() == IEEE
    assert tf32_settings() == before


def test_embedding_runs_and_records_its_precision_under_ieee_fp32(tmp_path, monkeypatch):
    """embed_store's passes run inside runtime.ieee_fp32(device) and its meta records what that reported; here on a
    CPU device with the helper told it is CUDA (the flags it sets are process-wide, so the forward sees them)."""
    from facebench import embed
    from facebench.models import build
    from facebench.models.checkpoint import save_model

    real = runtime.ieee_fp32
    seen = []

    def as_if_cuda(device):
        seen.append(device.type)
        return real(CUDA)

    monkeypatch.setattr(embed, "ieee_fp32", as_if_cuda)
    forward = embed.embed_rows

    def checked(*args, **kw):
        assert tf32_settings() == IEEE
        return forward(*args, **kw)

    monkeypatch.setattr(embed, "embed_rows", checked)
    store, _ = make_store(tmp_path, n_ids=2, per_id=3)
    args = {"embedding_size": 16, "input_size": [32, 32]}
    save_model(tmp_path / "m.pt", build("irse8", **args).eval(), backbone="irse8", backbone_args=args,
               input_spec=spec()["input"])
    meta = embed.embed_store(tmp_path / "m.pt", store, tmp_path / "e.npz", batch_size=4, streams=1)
    assert seen == ["cpu"] and meta["precision"] == "fp32 (TF32 off)"
    stored = json_meta(tmp_path / "e.npz")
    assert stored["precision"] == "fp32 (TF32 off)"
    assert tf32_settings() != IEEE  # restored after the run


def json_meta(path):
    import json

    with np.load(path) as z:
        return json.loads(str(z["meta"]))


def test_landmarks_run_under_ieee_fp32_on_cuda_and_say_so(tmp_path, monkeypatch):
    from facebench.detect import landmarking

    class Detector:  # the cascade replaced: only its device and settings are read outside _landmark_chunk
        device = CUDA

        class settings:  # noqa: N801
            select, min_face_size, factor, thresholds = "largest", 20, 0.709, (0.6, 0.7, 0.7)

    inside = []
    monkeypatch.setattr(landmarking, "_landmark_chunk",
                        lambda root, chunk, det, loaded=None: (
                            inside.append(tf32_settings()) or
                            ({n: landmarking._failed("no-face") for n in chunk}, {}, {})))
    _, summary = landmarking.landmark_images(tmp_path, [], Detector(), batch_size=2)
    assert summary["precision"] == "fp32 (TF32 off)"
    _, summary = landmarking.landmark_images(tmp_path, ["a.jpg", "b.jpg"], Detector(), batch_size=2)
    assert inside == [IEEE] and tf32_settings() != IEEE


# ---------------------------------------------------------------- 4. resume across devices / AMP dtypes


def test_the_state_keeps_what_device_and_amp_resolved_to(tmp_path):
    store, train_list = make_store(tmp_path)
    run(tmp_path, store, train_list, spec(steps=2, checkpoint_every=1, amp="auto"))
    state = torch.load(tmp_path / "a/work/state.pt", weights_only=True)
    assert state["resolved"] == {"device": "cpu", "amp": "off"}


def test_a_state_of_another_amp_dtype_is_refused_by_name(tmp_path):
    store, train_list = make_store(tmp_path)
    s = spec(steps=4, checkpoint_every=2, amp="auto")
    run(tmp_path, store, train_list, s)
    path = tmp_path / "a/work/state.pt"
    state = torch.load(path, weights_only=True)
    # as if the same spec (amp: auto) had run on a V100: fp16 with a scaler
    state["resolved"] = {"device": "cuda", "amp": "float16"}
    state["step"] = 2
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"state\.pt.*amp: the state has 'float16', this run 'off'.*"
                                              r"device: the state has 'cuda', this run 'cpu'"):
        run(tmp_path, store, train_list, s)


def test_load_state_checks_the_resolved_values_and_accepts_older_states(tmp_path):
    model, head = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "state.pt"
    save_state(path, digest="d", step=1, model=model, head=head, optimizer=opt,
               resolved={"device": "cuda", "amp": "float16"})
    assert load_state(path, "d", {"device": "cuda", "amp": "float16"})["step"] == 1
    with pytest.raises(CheckpointError, match="amp: the state has 'float16', this run 'bfloat16'"):
        load_state(path, "d", {"device": "cuda", "amp": "bfloat16"})
    assert load_state(path, "other", {"device": "cpu", "amp": "off"}) is None  # another spec: not resumed at all
    save_state(path, digest="d", step=1, model=model, head=head, optimizer=opt)  # a state from before the record
    assert load_state(path, "d", {"device": "cpu", "amp": "off"})["step"] == 1


# ---------------------------------------------------------------- 5. validation in fp32


def test_validation_runs_in_fp32_with_autocast_off(tmp_path):
    """Training in bf16 autocast (explicit on CPU), validation must embed as the embed stage does: fp32."""
    store, train_list = make_store(tmp_path)
    calls = []

    class Validation:
        COLUMNS = ("step", "epoch", "val_accuracy", "val_auc")

        def check_template(self, template, where):
            pass

        def evaluate(self, model, input_spec, *, batch_size, device, amp_dtype=None):
            x = torch.zeros(2, 3, 32, 32, device=device)
            with torch.no_grad():
                out = model.eval()(x)
            calls.append((amp_dtype, torch.is_autocast_enabled(device.type), out.dtype))
            return {"val_accuracy": 0.5, "val_auc": 0.5}

        def summary(self, epochs_tsv):
            return {"epochs": []}

    s = spec(steps=2, checkpoint_every=10, amp="bf16", validate={"dataset": "toy", "protocol": "p",
                                                                 "alignment": "provided"})
    summary, _ = run(tmp_path, store, train_list, s, validation=Validation())
    assert summary["amp"] == "bfloat16"  # the training itself ran under bf16 autocast
    assert calls and all(c == (None, False, torch.float32) for c in calls), calls


# ---------------------------------------------------------------- 6. the embed rule passes the GPU batch size


def test_the_embed_rule_passes_both_batch_sizes(tmp_path):
    """The dry run's shell commands: every embed job gets the config's CPU and GPU batch sizes (embed_store takes the
    one of the device it finds)."""
    from smoke import absolute_config

    cfg = yaml.safe_load(absolute_config(tmp_path).read_text())
    cfg.setdefault("embed", {}).update(batch_size=12, gpu_batch_size=96)
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "--configfile", str(path), "--forceall",
                          "--directory", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    commands = [line for line in out.stdout.splitlines() if "facebench embed " in line]
    assert commands, out.stdout[-2000:]
    assert all("--batch-size 12 " in c and "--gpu-batch-size 96 " in c for c in commands), commands[0]


# ---------------------------------------------------------------- 7. channels_last and cuDNN autotuning for CUDA


def test_cuda_training_uses_channels_last_and_cudnn_benchmark(monkeypatch):
    from facebench.models import build
    from facebench.train import layout

    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)  # restored after the test
    model = build("irse8", embedding_size=16, input_size=[32, 32])
    convs = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert layout.prepare_model(model, torch.device("cpu")) is None  # CPU: as it was
    assert torch.backends.cudnn.benchmark is False and all(w.is_contiguous() for w in convs)
    x = torch.zeros(2, 32, 32, 3).permute(0, 3, 1, 2)  # what to_model_input hands over: NHWC strides
    assert layout.as_input(x, None) is x

    fmt = layout.prepare_model(model, CUDA)  # only the layout and the flag: nothing here needs a GPU
    assert fmt == torch.channels_last and torch.backends.cudnn.benchmark is True
    convs = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    nchw = torch.zeros(2, 3, 32, 32)
    assert layout.as_input(nchw, fmt).is_contiguous(memory_format=torch.channels_last)


def test_the_loop_puts_model_and_inputs_in_the_devices_layout(tmp_path, monkeypatch):
    """The loop goes through train.layout: told the device wants channels_last (on a CPU), every input it feeds
    the network is channels_last."""
    from facebench.train import layout

    monkeypatch.setattr(layout, "memory_format", lambda device: torch.channels_last)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    seen = []
    real = loop.distributed.Joined.forward

    def forward(self, x, y):
        seen.append(x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] == 3)
        return real(self, x, y)

    monkeypatch.setattr(loop.distributed.Joined, "forward", forward)
    store, train_list = make_store(tmp_path)
    run(tmp_path, store, train_list, spec(steps=2, checkpoint_every=10))
    assert seen == [True, True] and torch.backends.cudnn.benchmark is True

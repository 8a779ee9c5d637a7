"""The embed stage's fast CPU path: frozen graph, streams of one thread each, face and mirror image; and the threaded
store build it reads. The fast path must give the eager model's features (fp32 both), in store order, whatever the
number of streams, and leave torch's thread setting as it found it. The GPU path (uint8 moved, prepared on the
device, its own batch size) is checked on CPU tensors: it must prepare and embed as the CPU path does."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import PRETRAINED, needs_shared
from facebench import align, embed, runtime, store
from facebench.io import load_npz
from facebench.landmarks import Landmarks
from facebench.models import build
from facebench.models.checkpoint import save_model
from facebench.models.convert import import_checkpoint
from PIL import Image

SPEC = {"template": "arcface112", "channels": "rgb", "mean": [0.5] * 3, "std": [0.5] * 3}


def random_faces(root, n, seed=0):
    """n distinct 150 px photos (smooth random patterns, so the crops differ) saved as JPEG under root."""
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        small = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
        name = f"P{i % 3}/P{i % 3}_{i:04d}.jpg"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(small).resize((150, 150), Image.BILINEAR).save(root / name, quality=90)
        names.append(name)
    return names


MODELS = {  # a small residual net from random weights, and the pretrained MobileFaceNet the benchmark embeds with
    "irse8": ("irse8", {"embedding_size": 16, "input_size": [112, 112]}),
    "mobilefacenet-pretrained": ("mobilefacenet", {}),
}
GRAPH = {"IRSE8": "frozen", "MobileFaceNet": "frozen+onednn"}  # IR-SE's uneven adaptive pooling: no oneDNN layouts


@pytest.fixture(scope="module", params=["irse8", pytest.param("mobilefacenet-pretrained", marks=needs_shared)])
def model_and_store(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("embed")
    names = random_faces(tmp / "images", 7)
    align.build_store(tmp / "images", names, tmp / "store", tpl=align.template("arcface112"), method="center",
                      frame=(150, 150))
    backbone, args = MODELS[request.param]
    torch.manual_seed(0)
    model = build(backbone, **args).eval()
    if request.param == "mobilefacenet-pretrained":
        import_checkpoint(PRETRAINED, model, {"key_prefix": "arcface."})
    save_model(tmp / "m.pt", model, backbone=backbone, backbone_args=args, input_spec=SPEC)
    return tmp, names, model


def eager(model, faces):
    with torch.inference_mode():
        x = embed.preprocess(faces, SPEC)
        return model(x).numpy(), model(x.flip(3)).numpy()


def cosines(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("streams", [1, 2])
def test_fast_path_gives_the_eager_features_in_store_order(model_and_store, streams):
    tmp, names, model = model_and_store
    before = torch.get_num_threads()
    # batch 3 over 7 faces: the last batch is padded, and with 2 streams the batches finish out of order
    meta = embed.embed_store(tmp / "m.pt", tmp / "store", tmp / f"e{streams}.npz", batch_size=3, streams=streams)
    assert torch.get_num_threads() == before
    assert meta["streams"] == streams and meta["precision"] == "fp32" and meta["n_images"] == 7
    assert meta["graph"] == GRAPH[type(model).__name__]
    out = load_npz(tmp / f"e{streams}.npz")
    assert out["paths"].tolist() == names
    assert out["features"].shape == (7, model.embedding_size) and out["features"].dtype == np.float32
    ref, ref_flip = eager(model, np.asarray(store.open_faces(tmp / "store")))
    assert cosines(out["features"], ref).min() > 0.9999
    assert cosines(out["features_flip"], ref_flip).min() > 0.9999
    tol = 1e-4 * np.abs(ref).max()  # fp32 both: the graph differs from eager only in rounding
    assert np.abs(out["features"] - ref).max() < tol and np.abs(out["features_flip"] - ref_flip).max() < tol
    assert np.abs(ref - ref_flip).max() > 10 * tol  # so the mirror images really are what features_flip holds


def test_streams_do_not_change_the_features(model_and_store, one_torch_thread):
    tmp, _, _ = model_and_store  # one intra-op thread either way: every batch is then computed the same way
    embed.embed_store(tmp / "m.pt", tmp / "store", tmp / "s1.npz", batch_size=2, streams=1)
    embed.embed_store(tmp / "m.pt", tmp / "store", tmp / "s2.npz", batch_size=2, streams=2)
    a, b = load_npz(tmp / "s1.npz"), load_npz(tmp / "s2.npz")
    np.testing.assert_array_equal(a["features"], b["features"])
    np.testing.assert_array_equal(a["features_flip"], b["features_flip"])


def test_a_subset_comes_out_in_the_order_asked(model_and_store):
    tmp, names, _ = model_and_store
    pick = [names[5], names[0], names[3]]
    embed.embed_store(tmp / "m.pt", tmp / "store", tmp / "all.npz", batch_size=4)
    embed.embed_store(tmp / "m.pt", tmp / "store", tmp / "sub.npz", batch_size=2, images=pick)
    full, sub = load_npz(tmp / "all.npz"), load_npz(tmp / "sub.npz")
    assert sub["paths"].tolist() == pick
    assert cosines(sub["features"], full["features"][[5, 0, 3]]).min() > 0.9999


def test_one_thread_per_stream_restores_the_setting():
    before = torch.get_num_threads()
    with runtime.one_thread_per_stream(2):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with runtime.one_thread_per_stream(2):
            raise RuntimeError("a failing batch")
    assert torch.get_num_threads() == before


def test_threaded_store_is_the_serial_store_byte_for_byte(tmp_path, monkeypatch):
    names = random_faces(tmp_path / "images", 11, seed=1)
    tpl = align.template("arcface112")
    lms = {n: Landmarks(tpl.points * 1.1 + 10 + i) for i, n in enumerate(names) if i % 4}  # some fall back
    monkeypatch.setattr(align, "CHUNK", 2)  # several chunks per thread
    kw = dict(tpl=tpl, method="landmarks", landmarks=lms, frame=(150, 150))
    s1 = align.build_store(tmp_path / "images", names, tmp_path / "serial", threads=1, **kw)
    s2 = align.build_store(tmp_path / "images", names, tmp_path / "threaded", threads=3, **kw)
    assert s1 == s2 and s1["status_counts"] == {"aligned": 8, "center-fallback": 3}
    assert (tmp_path / "serial/faces.npy").read_bytes() == (tmp_path / "threaded/faces.npy").read_bytes()
    assert (tmp_path / "serial/index.tsv").read_text() == (tmp_path / "threaded/index.tsv").read_text()


# ---------------------------------------------------------------- the GPU path, run on CPU tensors (issue 22)


@pytest.mark.parametrize("spec", [SPEC, {**SPEC, "channels": "bgr", "mean": [0.4, 0.5, 0.6], "std": [0.2, 0.3, 0.25]},
                                  {**SPEC, "size": [56, 48]}])
def test_device_side_preparation_is_the_cpu_preprocessing(spec):
    """The GPU path's input (uint8 gathered, moved, prepared on the device) on a CPU device: the CPU path's input."""
    faces = np.random.default_rng(0).integers(0, 256, (9, 112, 112, 3), dtype=np.uint8)
    rows = np.array([7, 2, 2, 5, 0])
    batch = embed.uint8_batch(faces, rows, pin=False)
    assert batch.dtype == torch.uint8 and tuple(batch.shape) == (5, 112, 112, 3)  # a quarter of fp32's bytes
    got = embed.device_input(batch, spec, torch.device("cpu"))
    want = embed.preprocess(faces[rows], spec)
    assert got.dtype == torch.float32 and got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(got.flip(3), embed.preprocess(faces[rows][:, :, ::-1], spec), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("batch_size, loaders", [(3, 1), (3, 2), (4, 2), (16, 1)])
def test_the_device_path_gives_the_cpu_paths_features_in_order(model_and_store, batch_size, loaders):
    tmp, _, model = model_and_store
    faces = store.open_faces(tmp / "store")
    rows = np.array([6, 1, 4, 0, 3, 5, 2])  # not the store's order: the output follows rows
    cpu = torch.device("cpu")
    f, ff = embed.embed_rows_on_device(model.eval(), faces, rows, SPEC, batch_size=batch_size, device=cpu,
                                       loaders=loaders)
    ref, ref_flip = eager(model, np.asarray(faces)[rows])
    assert f.shape == ref.shape and f.dtype == np.float32
    tol = 1e-4 * np.abs(ref).max()  # the same eager model: batches of another size differ only in rounding
    assert np.abs(f - ref).max() < tol and np.abs(ff - ref_flip).max() < tol
    empty, _ = embed.embed_rows_on_device(model, faces, rows[:0], SPEC, batch_size=batch_size, device=cpu)
    assert empty.size == 0


def test_a_gpu_device_takes_the_gpu_path_and_batch_size_and_records_them(model_and_store, monkeypatch):
    """embed_store told its device is CUDA, the GPU's parts run on the CPU: the model as is (not moved), and the GPU
    path's function with a CPU device. It must take the GPU batch size, never the CPU path, and record both."""
    tmp, _, _ = model_and_store
    real = embed.embed_rows_on_device
    seen = {}

    def on_cpu(net, faces, rows, spec, *, batch_size, device, progress=None):
        seen.update(batch_size=batch_size, device=device.type)
        return real(net, faces, rows, spec, batch_size=batch_size, device=torch.device("cpu"), progress=progress)

    def no_cpu_path(*args, **kw):
        raise AssertionError("the CPU path ran on a GPU device")

    monkeypatch.setattr(embed, "inference_module", lambda model, device, example: (model.eval(), "eager"))
    monkeypatch.setattr(embed, "embed_rows_on_device", on_cpu)
    monkeypatch.setattr(embed, "embed_rows", no_cpu_path)
    meta = embed.embed_store(tmp / "m.pt", tmp / "store", tmp / "gpu.npz", batch_size=3, gpu_batch_size=5,
                             device=torch.device("cuda"))
    assert seen == {"batch_size": 5, "device": "cuda"}
    assert (meta["batch_size"], meta["device"], meta["streams"], meta["graph"]) == (5, "cuda", 1, "eager")
    assert meta["precision"] == "fp32 (TF32 off)"
    out = load_npz(tmp / "gpu.npz")
    stored = json.loads(str(out["meta"]))
    assert (stored["batch_size"], stored["device"]) == (5, "cuda")
    monkeypatch.undo()
    cpu_meta = embed.embed_store(tmp / "m.pt", tmp / "store", tmp / "cpu.npz", batch_size=3, gpu_batch_size=5)
    assert (cpu_meta["batch_size"], cpu_meta["device"]) == (3, "cpu")  # the CPU batch size stays the CPU's
    cpu_out = load_npz(tmp / "cpu.npz")
    assert out["paths"].tolist() == cpu_out["paths"].tolist()
    tol = 1e-4 * np.abs(cpu_out["features"]).max()
    assert np.abs(out["features"] - cpu_out["features"]).max() < tol
    assert np.abs(out["features_flip"] - cpu_out["features_flip"]).max() < tol


def test_the_cli_passes_the_gpu_batch_size_from_the_schema(monkeypatch):
    from facebench import schema
    from facebench.cli import parser

    args = parser().parse_args(["embed", "--model", "m", "--store", "s", "--out", "o"])
    assert (args.batch_size, args.gpu_batch_size) == (schema.default("embed.batch_size"),
                                                      schema.default("embed.gpu_batch_size"))
    assert args.gpu_batch_size == 256 and args.batch_size == 16
    calls = {}
    monkeypatch.setattr(embed, "embed_store", lambda *a, **kw: calls.update(kw) or {"ok": True})
    args = parser().parse_args(["embed", "--model", "m", "--store", "s", "--out", "o", "--gpu-batch-size", "64",
                                "--device", "cpu"])
    args.fn(args)
    assert calls["gpu_batch_size"] == 64 and calls["batch_size"] == 16

"""The embed stage's fast CPU path: frozen graph, streams of one thread each, face and mirror image; and the threaded
store build it reads. The fast path must give the eager model's features (fp32 both), in store order, whatever the
number of streams, and leave torch's thread setting as it found it."""
from __future__ import annotations

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

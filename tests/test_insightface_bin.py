"""insightface .bin verification sets: the restricted reader, the pairs and folds, the `given` store, the config
checks and the DAG. The .bin is built here the way insightface packs one: faces of LFW-format data (the real
../shared/data/lfw where it exists, else the generated copy: tests/smoke.py) aligned with the provided landmarks
(align.build_store), each encoded as JPEG, pickled as (bins, issame)."""
from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from facebench import align, landmarks
from facebench.config import ConfigError, validate_config
from facebench.data import insightface_bin, lfw, protocols
from facebench.data.fetch import fetch_dataset
from facebench.data.insightface_bin import BinFormatError
from facebench.io import read_json, read_tsv, sha256_file
from facebench.store import open_faces, read_index
from smoke import absolute_config, data_root

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"


def pick_pairs() -> list[lfw.Pair]:
    """One same and one different pair of each of the 10 LFW sets, in set order: 10 contiguous folds of 2."""
    src = data_root() / "lfw"
    chosen = []
    for fold in range(10):
        of_fold = [p for p in lfw.read_pairs(src / "pairs.txt") if p.fold == fold]
        chosen += [next(p for p in of_fold if p.label == 1), next(p for p in of_fold if p.label == 0)]
    return chosen


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """(the .bin, the aligned store its faces came from, the pairs) for 20 LFW pairs."""
    tmp = tmp_path_factory.mktemp("bin")
    src = data_root() / "lfw"
    pairs = pick_pairs()
    order = [x for p in pairs for x in (p.path1, p.path2)]  # images 2i, 2i+1 are pair i; an image may repeat
    table, _ = landmarks.from_provided(landmarks.read(src / "lfw_landmark_250px.txt"), (250, 250), src / "images",
                                       sorted(set(order)))
    store = tmp / "store"
    align.build_store(src / "images", order, store, tpl=align.template("arcface112"), method="landmarks",
                      landmarks=table)
    faces = np.asarray(open_faces(store))
    bins = [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
            for f in faces]
    path = tmp / "lfw.bin"
    with open(path, "wb") as fh:
        pickle.dump((bins, [bool(p.label) for p in pairs]), fh, protocol=pickle.HIGHEST_PROTOCOL)
    return path, store, pairs


def write_bin(path, obj, protocol=pickle.HIGHEST_PROTOCOL):
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)
    return path


def test_pairs_are_consecutive_images_with_ten_contiguous_folds(packed):
    path, _, pairs = packed
    read = insightface_bin.read_pairs(path)
    assert [p.label for p in read] == [p.label for p in pairs]
    assert [p.fold for p in read] == [i // 2 for i in range(20)]
    assert (read[3].path1, read[3].path2) == ("000006.jpg", "000007.jpg")


def test_given_store_decodes_the_faces_as_aligned(packed, tmp_path):
    path, store, _ = packed
    names = insightface_bin.image_names(40)
    summary = align.build_given_store(path, names, tmp_path / "given", tpl=align.template("arcface112"))
    assert summary["method"] == "given" and summary["resized"] is False and summary["given_sizes"] == {"112x112": 40}
    assert summary["status_counts"] == {"given": 40}
    given, aligned = np.asarray(open_faces(tmp_path / "given")), np.asarray(open_faces(store))
    assert given.shape == aligned.shape == (40, 112, 112, 3)
    diff = np.abs(given.astype(np.int16) - aligned.astype(np.int16)).mean()
    assert diff < 3.0, f"mean abs difference {diff:.2f} is more than JPEG noise"
    assert read_index(tmp_path / "given").paths == names


def test_a_template_of_another_size_resizes_and_says_so(packed, tmp_path):
    path, _, _ = packed
    summary = align.build_given_store(path, ["000000.jpg", "000001.jpg"], tmp_path / "s",
                                      tpl=align.template("sphereface96x112"))
    assert summary["resized"] is True and summary["size"] == [96, 112] and "resized from 112x112" in summary["note"]
    assert open_faces(tmp_path / "s").shape == (2, 112, 96, 3)
    assert read_index(tmp_path / "s").notes == ["resized from 112x112"] * 2


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_carrying_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    path = write_bin(tmp_path / "evil.bin", ([b"x", b"y"], [_RunsCode(marker)]))
    with pytest.raises(BinFormatError, match=r"evil.bin: refused global (posix|os|nt)\.system"):
        insightface_bin.read(path)
    assert not marker.exists()
    with pytest.raises(BinFormatError, match=r"refused global collections.OrderedDict"):
        import collections

        insightface_bin.read(write_bin(tmp_path / "od.bin", ([b"x", b"y"], collections.OrderedDict())))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_flags_as_bools_ints_or_a_numpy_bool_array_in_any_protocol(tmp_path, protocol):
    for flags in ([True, False], [1, 0], np.array([True, False]), [np.True_, np.False_]):
        path = write_bin(tmp_path / "f.bin", ([b"a", bytearray(b"b"), b"c", b"d"], flags), protocol)
        assert insightface_bin.read(path) == ([b"a", b"b", b"c", b"d"], [1, 0])


@pytest.mark.parametrize("obj, message", [
    (([b"a", b"b", b"c"], [True]), r"3 images, an odd number"),
    (([b"a", b"b", b"c", b"d"], [True]), r"1 same/different flags for 2 pairs"),
    (([b"a", b"b"], [2]), r"flag 0 is 2, not a boolean"),
    (([b"a", b"b"], np.array([1])), r"numpy array of dtype 'i8'"),
    (([b"a", "b"], [True]), r"image 1 is a str"),
    ({"bins": []}, r"holds a dict, not the pair"),
])
def test_malformed_sets_are_errors_naming_the_file(tmp_path, obj, message):
    path = write_bin(tmp_path / "bad.bin", obj)
    with pytest.raises(BinFormatError, match=rf"bad.bin: .*{message}"):
        insightface_bin.read(path)


def test_a_file_that_is_not_a_pickle(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"\xff\xd8\xff\xe0 a jpeg, not a pickle")
    with pytest.raises(BinFormatError, match=r"x.bin: not a pickle"):
        insightface_bin.read(path)


def test_an_undecodable_face_names_its_index(tmp_path):
    ok = cv2.imencode(".png", np.zeros((112, 112, 3), np.uint8))[1].tobytes()
    path = write_bin(tmp_path / "b.bin", ([ok, b"not an image", ok, ok], [True, False]))
    names = insightface_bin.image_names(4)
    with pytest.raises(Exception, match=r"b.bin: image 1 \(000001.jpg\) cannot be decoded"):
        align.build_given_store(path, names, tmp_path / "s", tpl=align.template("arcface112"))
    summary = align.build_given_store(path, names, tmp_path / "s", tpl=align.template("arcface112"), on_error="skip")
    assert summary["status_counts"] == {"failed": 1, "given": 3}


def test_a_fold_of_one_kind_is_an_error(tmp_path):
    path = write_bin(tmp_path / "b.bin", ([b"x"] * 40, [True, False] + [False] * 18))
    with pytest.raises(BinFormatError, match=r"fold 1 .* holds only different-person pairs"):
        insightface_bin.read_pairs(path)


def test_fetch_writes_the_manifest_and_the_protocol_files(packed, tmp_path):
    path, _, pairs = packed
    spec = {"format": "insightface-bin", "file": {"path": str(path), "sha256": sha256_file(path)},
            "verification": {"lfwbin": {}}}
    m = fetch_dataset("lfwbin", spec, tmp_path / "data")
    assert m["n_images"] == 40 and m["n_pairs"] == 20 and m["images_root"] is None
    assert (tmp_path / "data/images.txt").read_text().split() == insightface_bin.image_names(40)
    out = tmp_path / "pairs-lfwbin.tsv"
    summary = protocols.write_pairs_protocol(protocols.pairs_source(m, {}, "lfwbin"), {},
                                             set(insightface_bin.image_names(40)), out, fmt=m["format"])
    assert summary["pairs"] == 20 and summary["folds"] == 10 and "contiguous" in summary["folds_from"]
    header, rows = read_tsv(out)
    assert [int(r[header.index("label")]) for r in rows] == [p.label for p in pairs]
    assert protocols.write_image_list([out], tmp_path / "images.txt") == 40
    with pytest.raises(ValueError, match=r"verification.lfwbin.pairs: an insightface .bin holds its own pairs"):
        protocols.pairs_source(m, {"pairs": "pairs"}, "lfwbin")


def test_the_align_command_refuses_another_method_for_a_bin(packed, tmp_path):
    path, _, _ = packed
    m = fetch_dataset("b", {"format": "insightface-bin", "file": {"path": str(path)}}, tmp_path / "data")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    base = [sys.executable, "-m", "facebench", "align", "--manifest", str(tmp_path / "data/manifest.json"),
            "--images", m["images_list"], "--template", "arcface112", "--out", str(tmp_path / "s")]
    bad = subprocess.run(base + ["--method", "center"], capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "method given is for insightface .bin datasets" in bad.stderr
    good = subprocess.run(base + ["--method", "given"], capture_output=True, text=True, env=env)
    assert good.returncode == 0, good.stderr
    assert read_json(tmp_path / "s/summary.json")["n_images"] == 40


def bin_config(smoke: dict, path: str) -> dict:
    cfg = copy.deepcopy(smoke)
    cfg["datasets"]["cfp_fp"] = {"format": "insightface-bin", "file": {"path": path}, "verification": {"cfp_fp": {}}}
    cfg["alignments"]["given"] = {"method": "given"}
    cfg["evaluate"].append({"model": "pretrained", "dataset": "cfp_fp", "alignments": ["given"]})
    return cfg


@pytest.fixture()
def smoke():
    return yaml.safe_load((ROOT / "config/smoke.yaml").read_text())


def test_a_bin_dataset_validates(smoke):
    validate_config(bin_config(smoke, "x.bin"), SCHEMA)


@pytest.mark.parametrize("edit, match", [
    (lambda c: c["evaluate"][0].update(alignments=["given"]),
     r"evaluate.0.alignments: 'given' is of method 'given' .* datasets.lfw is of format 'lfw'"),
    (lambda c: c["evaluate"][-1].update(alignments=["center"]),
     r"alignments: 'center' is of method 'center', but datasets.cfp_fp is an insightface .bin"),
    (lambda c: c["datasets"]["cfp_fp"].pop("file"), r"config key datasets.cfp_fp: 'file' is a required property"),
    (lambda c: c["datasets"]["cfp_fp"].update(images={"path": "x"}), r"datasets.cfp_fp.images: format "
                                                                     r"insightface-bin takes none"),
    (lambda c: c["datasets"]["cfp_fp"]["verification"]["cfp_fp"].update(pairs="pairs"),
     r"datasets.cfp_fp.verification.cfp_fp.pairs: format insightface-bin reads the .bin's own pairs"),
    (lambda c: c["datasets"]["cfp_fp"].update(identification={}), r"datasets.cfp_fp.identification: format "
                                                                   r"insightface-bin names no identities"),
    (lambda c: c["alignments"]["given"].update(landmarks="provided"), r"alignments.given.landmarks: method 'given' "
                                                                      r"takes no landmarks"),
    (lambda c: c["datasets"]["lfw"]["verification"]["view2"].pop("pairs"), r"datasets.lfw.verification.view2.pairs: "
                                                                            r"required"),
    (lambda c: c["datasets"]["lfw"].update(file={"path": "x"}), r"datasets.lfw.file: a key of format "
                                                                r"insightface-bin only"),
])
def test_config_errors_name_the_key(smoke, edit, match):
    cfg = bin_config(smoke, "x.bin")
    edit(cfg)
    with pytest.raises(ConfigError, match=match):
        validate_config(cfg, SCHEMA)


def test_the_dag_evaluates_a_bin_through_a_given_store(packed, tmp_path):
    """snakemake -n on the smoke profile plus a .bin dataset: fetch, the pairs protocol, the image lists, a given
    store (no landmarks job for it), embeddings and verification."""
    path, _, _ = packed
    cfg_path = absolute_config(tmp_path, edit=lambda c: c.update(bin_config(c, str(path))))
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(["snakemake", "-n", "-s", str(ROOT / "Snakefile"), "--configfile", str(cfg_path),
                             "--cores", "1", "--directory", str(work)], capture_output=True, text=True, env=env,
                            timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    for needed in ("results/data/cfp_fp/manifest.json", "results/protocols/cfp_fp/pairs-cfp_fp.tsv",
                   "results/protocols/cfp_fp/eval-images.txt", "results/aligned/cfp_fp/given/arcface112/faces.npy",
                   "results/embeddings/pretrained/cfp_fp/given.npz", "results/metrics/pretrained/cfp_fp/given/"):
        assert needed in out, f"{needed} is not in the dry run's jobs"
    assert "results/landmarks/cfp_fp/" not in out

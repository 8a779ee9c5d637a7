"""CALFW: the reader on synthetic files, then the dataset kind end to end (fetch, pairs protocol, identification,
training set, landmarks, alignment) on a CALFW-format tree made from LFW images (tests/calfw_fixture.py: the real
ones, else the generated ones; plumbing either way)."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
import zipfile
from collections import Counter

import calfw_fixture
import numpy as np
import pytest
import yaml
from facebench import align, landmarks
from facebench.config import ConfigError, validate_config
from facebench.data import calfw, formats, protocols
from facebench.data.download import ChecksumError
from facebench.data.fetch import fetch_dataset
from facebench.io import read_json, read_tsv, sha256_file


def write_pairs(path, n_pairs=60):
    """n_pairs/2 same-person pairs (label = a shared identity number) then n_pairs/2 different ones (label 0)."""
    lines = []
    for k in range(n_pairs // 2):
        lines += [f"Person_{k:03d}_0001.jpg {k + 1}", f"Person_{k:03d}_0002.jpg {k + 1}"]
    for k in range(n_pairs // 2):
        lines += [f"Person_{k:03d}_0001.jpg 0", f"Other_{k:03d}_0001.jpg 0"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_pairs_are_read_two_lines_each_with_balanced_folds(tmp_path):
    pairs = calfw.read_pairs(write_pairs(tmp_path / "pairs_CALFW.txt", 60), n_folds=10)
    assert len(pairs) == 60
    assert [p.label for p in pairs] == [1] * 30 + [0] * 30
    assert pairs[0].path1 == "Person_000_0001.jpg" and pairs[0].path2 == "Person_000_0002.jpg" and pairs[0].line == 1
    for fold in range(10):
        labels = [p.label for p in pairs if p.fold == fold]
        assert labels.count(1) == labels.count(0) == 3  # a contiguous split would give one-class folds


def test_the_real_size_gives_300_and_300_per_fold(tmp_path):
    pairs = calfw.read_pairs(write_pairs(tmp_path / "p.txt", 6000))
    for fold in range(10):
        labels = [p.label for p in pairs if p.fold == fold]
        assert labels.count(1) == labels.count(0) == 300


@pytest.mark.parametrize("body, message", [
    ("a_0001.jpg 1\n", "line 1: the last pair has no second line .*two lines per pair"),
    ("", "no pairs"),
    ("a_0001.jpg 1\nb_0001.jpg 0\n", r"lines 1-2: the two lines of a pair disagree"),
    ("a_0001.jpg x\nb_0001.jpg 0\n", "line 1: label 'x' is not an integer"),
    ("a_0001.jpg\nb_0001.jpg 0\n", "line 1: expected 'image label'"),
])
def test_malformed_pairs_files_name_the_line(tmp_path, body, message):
    path = tmp_path / "bad.txt"
    path.write_text(body)
    with pytest.raises(ValueError, match=message):
        calfw.read_pairs(path)


def test_identity_is_the_name_without_its_number():
    assert calfw.identity("Aaron_Eckhart_0001.jpg") == "Aaron_Eckhart"
    assert calfw.identity("sub/Jean-Pierre_Raffarin_0012.jpg") == "Jean-Pierre_Raffarin"
    with pytest.raises(ValueError, match="not a CALFW image name"):
        calfw.identity("Aaron.jpg")


def test_landmarks_are_read_and_a_missing_file_is_flagged_not_dropped(tmp_path):
    (tmp_path / "Person_000_0001_5loc_attri.txt").write_text("30 51\n65 51\n48 71\n33 92\n62 92\n")
    (tmp_path / "Person_001_0001_5loc_attri.txt").write_text("30 51\n65 51\n")
    table, reasons = calfw.read_landmarks(tmp_path, ["Person_000_0001.jpg", "Person_001_0001.jpg",
                                                     "Person_002_0001.jpg"])
    assert table["Person_000_0001.jpg"].flag == "ok"
    assert np.array_equal(table["Person_000_0001.jpg"].points[1], [65, 51])
    assert table["Person_001_0001.jpg"].flag == "missing" and "found 2" in reasons["Person_001_0001.jpg"]
    assert table["Person_002_0001.jpg"].flag == "missing" and "Person_002_0001_5loc_attri.txt" in \
        reasons["Person_002_0001.jpg"]


def test_more_folds_than_same_pairs_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"p.txt: 5 same and 5 different pairs cannot fill 10 balanced folds"):
        calfw.read_pairs(write_pairs(tmp_path / "p.txt", 10), n_folds=10)


# ---------------------------------------------------------------- the dataset kind, on LFW images in CALFW's format
FRAME = [150, 150]  # the fixture's images and points are LFW's 150 px copies


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return calfw_fixture.build(tmp_path_factory.mktemp("calfw") / "calfw")


def local_spec(tree, **extra) -> dict:
    """A calfw dataset entry as config gives it (after schema defaults), from the fixture's local folders."""
    return {"format": "calfw", "frame": FRAME, "images": {"path": str(tree.images)},
            "files": {"pairs": {"path": str(tree.pairs), "sha256": sha256_file(tree.pairs)}},
            "landmarks": {"provided": {"path": str(tree.landmarks)}},
            "verification": {"calfw": {"pairs": "pairs", "folds": 10}}, "on_missing_image": "fail", **extra}


@pytest.fixture(scope="module")
def fetched(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("fetched")
    return fetch_dataset("calfw", local_spec(tree), out), out


def image_list(manifest) -> list[str]:
    return [ln for ln in open(manifest["images_list"], encoding="utf-8").read().splitlines() if ln]


def test_fetch_lists_the_flat_images_and_records_the_landmark_folder(tree, fetched):
    manifest, out = fetched
    assert manifest["format"] == "calfw" and manifest["images_root"] == str(tree.images.resolve())
    assert image_list(manifest) == tree.all_images and manifest["n_images"] == 50
    lm = manifest["files"]["landmarks-provided"]
    assert lm["path"] == tree.landmarks.resolve().as_posix() and lm["n_files"] == 49 and len(lm["tree_sha256"]) == 64
    assert manifest["files"]["pairs"]["sha256"] == sha256_file(tree.pairs)
    assert read_json(out / "manifest.json") == manifest


def test_fetch_from_one_archive_by_url_extracts_it_once_and_checks_the_pins(tree, fetched, tmp_path):
    archive = tmp_path / "calfw.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(tree.root.rglob("*")):
            zf.write(path, path.relative_to(tree.root.parent).as_posix())
    source = {"url": archive.as_uri(), "sha256": sha256_file(archive)}
    pins = fetched[0]
    spec = local_spec(tree, images={**source, "subdir": "calfw/images", "tree_sha256": pins["images_tree_sha256"]},
                      landmarks={"provided": {**source, "subdir": "calfw/landmarks",
                                              "tree_sha256": pins["files"]["landmarks-provided"]["tree_sha256"]}})
    manifest = fetch_dataset("calfw", spec, tmp_path / "out")
    assert manifest["files"]["landmarks-provided"]["path"] == (tmp_path / "out/extracted/calfw/landmarks").as_posix()
    assert not (tmp_path / "out/extracted-landmarks-provided").exists()  # one archive, extracted once
    assert image_list(manifest) == tree.all_images

    spec["landmarks"]["provided"]["tree_sha256"] = "0" * 64
    with pytest.raises(ValueError, match=r"datasets.calfw.landmarks.provided.tree_sha256: the landmark files under"):
        fetch_dataset("calfw", spec, tmp_path / "out2")
    spec["images"]["sha256"] = "0" * 64
    with pytest.raises(ChecksumError, match=r"datasets.calfw.images.sha256"):
        fetch_dataset("calfw", spec, tmp_path / "out3")


def test_fetch_refuses_a_flat_file_that_is_not_a_calfw_image_name(tree, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "portrait.jpg").write_bytes((tree.images / tree.all_images[0]).read_bytes())
    with pytest.raises(ValueError, match=r"datasets.calfw.images: .*portrait.jpg: not a CALFW image name"):
        fetch_dataset("calfw", local_spec(tree, images={"path": str(images)}), tmp_path / "out")


def test_pairs_protocol_keeps_the_pairs_with_balanced_folds(tree, fetched, tmp_path):
    manifest, _ = fetched
    out = tmp_path / "pairs-calfw.tsv"
    summary = protocols.write_pairs_protocol(manifest["files"]["pairs"]["path"], {"pairs": "pairs", "folds": 10},
                                             set(image_list(manifest)), out, fmt="calfw")
    header, rows = read_tsv(out, expect=["fold", "path1", "path2", "label", "line"])
    assert summary["pairs"] == 40 and summary["same"] == 20 and summary["folds"] == 10 and summary["format"] == "calfw"
    assert [(r[1], r[2]) for r in rows if r[3] == "1"] == tree.same
    assert [(r[1], r[2]) for r in rows if r[3] == "0"] == tree.different
    assert [int(r[4]) for r in rows] == list(range(1, 80, 2))  # a pair's line is its first line in the file
    per_fold = Counter((int(r[0]), r[3]) for r in rows)
    assert all(per_fold[(f, "1")] == per_fold[(f, "0")] == 2 for f in range(10))
    i1, i2 = header.index("identity1"), header.index("identity2")  # the persons of the flat names, for score files
    assert all((r[i1], r[i2]) == (calfw.identity(r[1]), calfw.identity(r[2])) for r in rows)
    assert all((r[i1] == r[i2]) == (r[3] == "1") for r in rows)


def test_folds_default_to_calfws_ten_and_too_many_are_refused(fetched, tmp_path):
    manifest, _ = fetched
    pairs_file, available = manifest["files"]["pairs"]["path"], set(image_list(manifest))
    summary = protocols.write_pairs_protocol(pairs_file, {"pairs": "pairs"}, available, tmp_path / "p.tsv",
                                             fmt="calfw")
    assert summary["folds"] == 10
    with pytest.raises(ValueError, match=r"20 same and 20 different pairs cannot fill 25 balanced folds"):
        protocols.write_pairs_protocol(pairs_file, {"pairs": "pairs", "folds": 25}, available, tmp_path / "q.tsv",
                                       fmt="calfw")


def test_a_malformed_line_of_the_fetched_pairs_file_names_file_and_line(tree, tmp_path):
    lines = tree.pairs.read_text().splitlines()
    lines[6] = lines[6].split()[0]  # line 7 loses its label
    bad = tmp_path / "pairs_CALFW.txt"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"{bad}: line 7: expected 'image label', found 1 field"):
        protocols.write_pairs_protocol(bad, {"pairs": "pairs"}, set(tree.all_images), tmp_path / "p.tsv", fmt="calfw")
    bad.write_text("\n".join(tree.pairs.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(ValueError, match=rf"{bad}: line 79: the last pair has no second line"):
        protocols.write_pairs_protocol(bad, {"pairs": "pairs"}, set(tree.all_images), tmp_path / "p.tsv", fmt="calfw")


def test_a_pair_whose_image_is_absent_fails_or_is_dropped_and_counted(tree, fetched, tmp_path):
    manifest, _ = fetched
    available = set(image_list(manifest)) - {tree.same[3][1]}
    pairs_file = manifest["files"]["pairs"]["path"]
    with pytest.raises(FileNotFoundError, match=rf"line 7: {tree.same[3][1]} is not in the dataset"):
        protocols.write_pairs_protocol(pairs_file, {"pairs": "pairs"}, available, tmp_path / "p.tsv", fmt="calfw")
    summary = protocols.write_pairs_protocol(pairs_file, {"pairs": "pairs"}, available, tmp_path / "p.tsv",
                                             on_missing="skip", fmt="calfw")
    assert summary["pairs_dropped_missing_image"] == 2 and summary["pairs"] == 38  # its same pair and a different one


def test_identification_takes_the_identities_with_two_images(tree, fetched, tmp_path):
    manifest, _ = fetched
    summary = protocols.write_identification(image_list(manifest), {"min_images": 2}, tmp_path / "id.tsv",
                                             fmt="calfw", dataset="calfw")
    _, rows = read_tsv(tmp_path / "id.tsv")
    assert summary["identities"] == 20 and summary["images"] == 40 and summary["split_part"] is None
    assert {i for _, i in rows} == set(tree.two_image_identities)
    assert all(calfw.identity(p) == i for p, i in rows)


def test_training_and_identification_take_disjoint_parts_of_the_seeded_identity_split(tree, fetched, tmp_path):
    manifest, _ = fetched
    images = image_list(manifest)
    split = {"seed": 0, "fractions": {"train": 0.7, "test": 0.3}}
    train = protocols.write_training_set(images, {"min_images": 1}, manifest["files"], tmp_path / "train.tsv",
                                         "calfw", fmt="calfw", split=split)
    ident = protocols.write_identification(images, {"min_images": 2}, tmp_path / "id.tsv", fmt="calfw",
                                           split=split, dataset="calfw")
    parts = protocols.split_identities([calfw.identity(p) for p in images], split, "datasets.calfw.split")
    assert len(parts["train"]) == 21 and len(parts["test"]) == 9 and not parts["train"] & parts["test"]
    train_ids = {i for _, i in read_tsv(tmp_path / "train.tsv")[1]}
    test_ids = {i for _, i in read_tsv(tmp_path / "id.tsv")[1]}
    assert train_ids == parts["train"] and test_ids == parts["test"] & set(tree.two_image_identities)
    assert train["split_part"] == "train" and ident["split_part"] == "test" and train["identities"] == 21
    # the same seed gives the same split whatever the order of the images or of the fractions; another seed differs
    again = protocols.split_identities(sorted(parts["test"]) + sorted(parts["train"]),
                                       {"seed": 0, "fractions": {"test": 0.3, "train": 0.7}}, "k")
    assert again == parts
    assert protocols.split_identities(list(parts["train"] | parts["test"]), {**split, "seed": 1}, "k") != parts


def test_without_a_split_training_takes_every_identity_and_split_errors_name_the_key(fetched, tmp_path):
    manifest, _ = fetched
    images = image_list(manifest)
    summary = protocols.write_training_set(images, {}, manifest["files"], tmp_path / "t.tsv", "calfw", fmt="calfw")
    assert summary["identities"] == 30 and summary["images"] == 50
    with pytest.raises(ValueError, match=r"datasets.calfw.training.part: 'dev' is not a part of datasets.calfw.split"):
        protocols.write_training_set(images, {"part": "dev"}, manifest["files"], tmp_path / "t.tsv", "calfw",
                                     fmt="calfw", split={"seed": 0, "fractions": {"train": 1.0}})
    with pytest.raises(ValueError, match=r"datasets.calfw.training.part: 'train' needs an identity split"):
        protocols.write_training_set(images, {"part": "train"}, manifest["files"], tmp_path / "t.tsv", "calfw",
                                     fmt="calfw")
    with pytest.raises(ValueError, match=r"datasets.calfw.split.fractions: shares must be positive and sum to 1"):
        protocols.write_training_set(images, {}, manifest["files"], tmp_path / "t.tsv", "calfw", fmt="calfw",
                                     split={"seed": 0, "fractions": {"train": 0.5, "test": 0.2}})


def provided_landmarks(manifest, images):
    """The provided landmark folder as the calfw format reads it."""
    return formats.get("calfw").read_landmarks(manifest["files"]["landmarks-provided"]["path"], images)


def test_provided_landmarks_become_the_landmark_table_with_the_missing_one_flagged(tree, fetched, tmp_path):
    manifest, _ = fetched
    images = image_list(manifest)
    table, counts = landmarks.from_provided(provided_landmarks(manifest, images), tuple(FRAME),
                                            manifest["images_root"], images)
    assert counts == {"ok": 49, "missing": 1, "unreadable": 0}
    assert table[tree.no_landmarks].flag == "missing" and np.isnan(table[tree.no_landmarks].points).all()
    # the points are LFW's provided ones for the same image, as the LFW path reads them
    lfw_names = [f"{calfw.identity(n)}/{n}" for n in images if n != tree.no_landmarks]
    lfw = calfw_fixture.lfw()
    reference, _ = landmarks.from_provided(landmarks.read(lfw / "lfw_landmark_250px.txt"), (250, 250), lfw / "images",
                                           lfw_names)
    for lfw_name in lfw_names:
        np.testing.assert_allclose(table[lfw_name.split("/")[1]].points, reference[lfw_name].points, atol=0.01)
    landmarks.write(tmp_path / "provided.tsv", table)
    back = landmarks.read(tmp_path / "provided.tsv")
    assert back.keys() == table.keys() and back[tree.no_landmarks].flag == "missing"


def test_align_falls_back_to_a_centre_crop_for_the_image_without_landmarks_and_counts_it(tree, fetched, tmp_path):
    manifest, _ = fetched
    images = image_list(manifest)
    table, _ = landmarks.from_provided(provided_landmarks(manifest, images), tuple(FRAME),
                                       manifest["images_root"], images)
    summary = align.build_store(manifest["images_root"], images, tmp_path / "store", tpl=align.template("arcface112"),
                                method="landmarks", landmarks=table, frame=tuple(FRAME))
    assert summary["status_counts"] == {"aligned": 49, "center-fallback": 1}
    _, rows = read_tsv(tmp_path / "store/index.tsv")
    assert [r[2] for r in rows if r[1] == tree.no_landmarks] == ["center-fallback"]


# ---------------------------------------------------------------- the same through `python -m facebench`
def facebench(*args):
    return subprocess.run([sys.executable, "-m", "facebench", *map(str, args)], capture_output=True, text=True)


def test_cli_fetch_and_landmarks_provided(tree, tmp_path):
    spec = json.dumps(local_spec(tree))
    run = facebench("fetch-dataset", "calfw", "--spec", spec, "--out", tmp_path / "data")
    assert run.returncode == 0, run.stderr
    run = facebench("landmarks-provided", "--manifest", tmp_path / "data/manifest.json", "--source", "provided",
                    "--images", tmp_path / "data/images.txt", "--frame", *FRAME, "--out", tmp_path / "lm.tsv",
                    "--summary", tmp_path / "lm.json")
    assert run.returncode == 0, run.stderr
    assert read_json(tmp_path / "lm.json")["counts"] == {"ok": 49, "missing": 1, "unreadable": 0}
    assert landmarks.read(tmp_path / "lm.tsv")[tree.no_landmarks].flag == "missing"


@pytest.mark.parametrize("command, expected", [
    (["pairs-protocol", "--protocol", "calfw"], {"pairs": 40, "same": 20, "folds": 10}),
    (["identification-protocol"], {"identities": 5, "split_part": "test"}),  # its 9 identities, 5 with 2 images
    (["training-set"], {"identities": 21, "split_part": "train"}),
])
def test_cli_protocols(tree, fetched, tmp_path, command, expected):
    spec = local_spec(tree, identification={"min_images": 2}, training={"min_images": 1},
                      split={"seed": 0, "fractions": {"train": 0.7, "test": 0.3}})
    manifest, out = fetched
    run = facebench(*command, "--manifest", out / "manifest.json", "--spec", json.dumps(spec), "--out",
                    tmp_path / "out.tsv")
    assert run.returncode == 0, run.stderr
    summary = read_json(tmp_path / "out.json")
    assert {k: summary[k] for k in expected} == expected


# ---------------------------------------------------------------- config
@pytest.fixture()
def smoke_with_calfw(root, monkeypatch, tree):
    monkeypatch.chdir(root)
    cfg = yaml.safe_load((root / "config/smoke.yaml").read_text())
    cfg["datasets"]["calfw"] = local_spec(tree, identification={}, training={},
                                          split={"fractions": {"train": 0.8, "test": 0.2}})
    return cfg


def test_a_calfw_dataset_is_valid_config_and_lfw_stays_the_default(smoke_with_calfw):
    cfg = validate_config(copy.deepcopy(smoke_with_calfw), "workflow/schemas/config.schema.yaml")
    assert cfg["datasets"]["calfw"]["split"]["seed"] == 0
    assert {name: ds["format"] for name, ds in cfg["datasets"].items()} == {
        **{name: "lfw" for name in cfg["datasets"] if name != "calfw"}, "calfw": "calfw"}


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(format="casia"), r"datasets.calfw.format: 'casia' is not one of \['lfw', 'calfw', 'cplfw', "
                                         r"'trials', 'insightface-bin'\]"),
    (lambda d: d["split"]["fractions"].update(test=0.3), r"datasets.calfw.split.fractions: shares sum to 1.1, not 1"),
    (lambda d: d["training"].update(part="dev"), r"datasets.calfw.training.part: 'dev' is not a part of "
                                                 r"datasets.calfw.split.fractions"),
    (lambda d: d["identification"].update(part="test", people="pairs"), r"datasets.calfw.identification: give "
                                                                        r"'people' or 'part', not both"),
])
def test_bad_calfw_config_names_the_key(smoke_with_calfw, edit, match):
    edit(smoke_with_calfw["datasets"]["calfw"])
    with pytest.raises(ConfigError, match=match):
        validate_config(smoke_with_calfw, "workflow/schemas/config.schema.yaml")

"""A user's own verification set (format trials): the trial-list reader, its folds and errors, then fetch and the
pairs protocol on a folder of LFW-format images (the real ../shared/data/lfw where it exists, else the generated
copy: tests/smoke.py; plumbing either way)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from facebench.config import ConfigError, validate_config
from facebench.data import formats, protocols, trials
from facebench.data.fetch import fetch_dataset
from facebench.io import read_json, read_tsv
from smoke import data_root

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"


def trial_lines(n=40, fold=False):
    """n/2 same trials then n/2 different ones (labels 1 and 0), optionally with a fold column of 4 folds."""
    lines = [f"a/{k}_1.jpg a/{k}_2.jpg 1" + (f" {k % 4 + 1}" if fold else "") for k in range(n // 2)]
    lines += [f"a/{k}_1.jpg b/{k}_1.jpg 0" + (f" {k % 4 + 1}" if fold else "") for k in range(n // 2)]
    return lines


def write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_balanced_folds_without_a_column(tmp_path):
    pairs = trials.read_pairs(write(tmp_path / "t.txt", ["# my trials", ""] + trial_lines(40)))
    assert len(pairs) == 40 and pairs[0].line == 3 and pairs[0].path1 == "a/0_1.jpg"
    for fold in range(10):
        assert sorted(p.label for p in pairs if p.fold == fold) == [0, 0, 1, 1]
    assert trials.folds_origin(tmp_path / "t.txt") == "10 balanced folds (the file has no fold column)"


def test_folds_from_the_column_and_nonzero_labels_are_same(tmp_path):
    lines = [ln.replace(" 1 ", " 7 ") for ln in trial_lines(16, fold=True)]
    pairs = trials.read_pairs(write(tmp_path / "t.txt", lines))
    assert {p.fold for p in pairs} == {0, 1, 2, 3}  # the column's 1..4, in order
    assert [p.label for p in pairs] == [1] * 8 + [0] * 8
    assert trials.folds_origin(tmp_path / "t.txt") == "the file's fold column"
    with pytest.raises(ValueError, match="has a fold column, and the protocol's folds"):
        trials.read_pairs(tmp_path / "t.txt", 5)


@pytest.mark.parametrize("lines, message", [
    (["a.jpg b.jpg"], r"t.txt: line 1: expected 'path1 path2 label \[fold\]', found 2"),
    (["a.jpg b.jpg yes"], r"t.txt: line 1: label 'yes' is not an integer"),
    (["a.jpg b.jpg 1 x"], r"t.txt: line 1: fold 'x' is not an integer"),
    (["a.jpg b.jpg 1", "c.jpg d.jpg 0", "b.jpg a.jpg 0"], r"t.txt: lines 1 and 3: the pair b.jpg a.jpg is listed "
                                                          r"twice"),
    (["a.jpg a.jpg 1"], r"line 1: a.jpg is paired with itself"),
    (["../a.jpg b.jpg 1"], r"line 1: image '../a.jpg' must be a '/'-separated path relative"),
    (["a.jpg b.jpg 1 0", "c.jpg d.jpg 0"], r"line 2: some lines give a fold and some do not"),
    (["# nothing"], r"no trials"),
    (["a.jpg b.jpg 1", "c.jpg d.jpg 0"], r"1 same and 1 different pairs cannot fill 10 balanced folds"),
    (["a.jpg b.jpg 1 0", "c.jpg d.jpg 1 0", "e.jpg f.jpg 0 1"], r"fold 0 \(the file's fold column\) holds only "
                                                                r"same-person"),
])
def test_malformed_trial_lists_name_the_file_and_line(tmp_path, lines, message):
    with pytest.raises(ValueError, match=message):
        trials.read_pairs(write(tmp_path / "t.txt", lines))


def test_a_trials_dataset_names_no_identities():
    with pytest.raises(ValueError, match="names no identities"):
        formats.get("trials").identity("a/b.jpg")


@pytest.fixture()
def user_set(tmp_path):
    """A nested folder of 12 LFW images (6 people, 2 each) and a trial list over them: 6 same and 6 different
    pairs, and one more naming images that are not there."""
    src = data_root() / "lfw" / "images"
    people = sorted(p for p in src.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= 2)[:6]
    images = tmp_path / "mine" / "photos"
    lines = []
    for person in people:
        a, b = sorted(person.glob("*.jpg"))[:2]
        for f in (a, b):
            (images / "sub" / person.name).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, images / "sub" / person.name / f.name)
        lines.append(f"sub/{person.name}/{a.name} sub/{person.name}/{b.name} 1")
    for k in range(len(people)):
        a = sorted((images / "sub" / people[k].name).glob("*.jpg"))[0]
        b = sorted((images / "sub" / people[(k + 1) % len(people)].name).glob("*.jpg"))[1]
        lines.append(f"{a.relative_to(images).as_posix()} {b.relative_to(images).as_posix()} 0")
    lines.append("sub/nobody_0001.jpg sub/nobody_0002.jpg 0")
    trial_list = write(tmp_path / "trials.txt", lines)
    return images, trial_list


def test_fetch_and_the_pairs_protocol(user_set, tmp_path):
    images, trial_list = user_set
    spec = {"format": "trials", "images": {"path": str(images)}, "files": {"trials": {"path": str(trial_list)}},
            "verification": {"mine": {"pairs": "trials", "folds": 2}}}
    m = fetch_dataset("mine", spec, tmp_path / "data")
    assert m["n_images"] == 12 and m["format"] == "trials"
    available = set((tmp_path / "data/images.txt").read_text().split())
    pairs_file = protocols.pairs_source(m, spec["verification"]["mine"], "mine")
    with pytest.raises(FileNotFoundError, match=r"trials.txt: line 13: sub/nobody_0001.jpg is not in the dataset"):
        protocols.write_pairs_protocol(pairs_file, spec["verification"]["mine"], available, tmp_path / "p.tsv",
                                       fmt="trials")
    summary = protocols.write_pairs_protocol(pairs_file, spec["verification"]["mine"], available, tmp_path / "p.tsv",
                                             on_missing="skip", fmt="trials")
    assert summary["pairs"] == 12 and summary["pairs_dropped_missing_image"] == 1 and summary["folds"] == 2
    assert summary["folds_from"] == "2 balanced folds (the file has no fold column)"
    assert read_json(tmp_path / "p.json")["same"] == 6
    header, rows = read_tsv(tmp_path / "p.tsv")
    assert rows[0][header.index("path1")].startswith("sub/")
    assert {r[header.index("identity1")] for r in rows} == {r[header.index("identity2")] for r in rows} == {""}


@pytest.fixture()
def smoke():
    return yaml.safe_load((ROOT / "config/smoke.yaml").read_text())


def trials_config(smoke):
    smoke["datasets"]["mine"] = {"format": "trials", "images": {"path": "x"}, "files": {"trials": {"path": "t"}},
                                 "verification": {"mine": {"pairs": "trials"}}}
    smoke["evaluate"].append({"model": "pretrained", "dataset": "mine", "alignments": ["center", "mtcnn"]})
    return smoke


def test_a_trials_dataset_validates_and_takes_no_identification(smoke):
    validate_config(trials_config(smoke), SCHEMA)
    cfg = trials_config(yaml.safe_load((ROOT / "config/smoke.yaml").read_text()))
    cfg["datasets"]["mine"]["identification"] = {"min_images": 2}
    with pytest.raises(ConfigError, match=r"datasets.mine.identification: format trials names no identities"):
        validate_config(cfg, SCHEMA)

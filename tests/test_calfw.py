"""CALFW reader on a fixture in CALFW's format made from LFW images: pairs, balanced folds, identities, landmarks."""
from __future__ import annotations

import numpy as np
import pytest
from facebench.data import calfw


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
    ("a_0001.jpg 1\n", "two lines per pair"),
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

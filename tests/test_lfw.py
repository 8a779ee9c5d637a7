"""LFW readers: pairs (View 1 and View 2), people files, protocol files; malformed lines name file and line."""
from __future__ import annotations

import pytest
from conftest import LFW, needs_shared
from facebench.data import lfw, protocols


def write(path, text):
    path.write_text(text)
    return path


def test_view2_header_sets_and_labels(tmp_path):
    f = write(tmp_path / "pairs.txt", "2\t1\nA\t1\t2\nB\t1\tC\t3\nD\t2\t4\nE\t1\tF\t1\n")
    pairs = lfw.read_pairs(f)
    assert [(p.fold, p.label) for p in pairs] == [(0, 1), (0, 0), (1, 1), (1, 0)]
    assert pairs[1].path1 == "B/B_0001.jpg" and pairs[1].path2 == "C/C_0003.jpg" and pairs[1].line == 3


@pytest.mark.parametrize("text,match", [
    ("1\t1\nA\t1\nB\t1\tC\t1\n", r"line 2: a same-person line needs 'name i j', found 2 fields"),
    ("1\t1\nA\t1\t2\nB\t1\tC\n", r"line 3: a different-person line needs 'name1 i name2 j', found 3 fields"),
    ("1\t1\nA\tx\t2\nB\t1\tC\t1\n", r"line 2: image number 'x' is not an integer"),
    ("1\t1\nA\t0\t2\nB\t1\tC\t1\n", r"line 2: image number 0 must be >= 1"),
    ("1\t2\nA\t1\t2\nB\t1\tC\t1\n", r"header says 1 set\(s\) of 2 .* the file has 2"),
    ("ten\nA\t1\t2\n", r"line 1: header 'ten'"),
])
def test_malformed_pairs_files(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        lfw.read_pairs(write(tmp_path / "pairs.txt", text))


def test_people_files(tmp_path):
    v2 = lfw.read_people(write(tmp_path / "people.txt", "2\n2\nA\t1\nB\t3\n1\nC\t2\n"))
    assert v2 == [[("A", 1), ("B", 3)], [("C", 2)]]
    v1 = lfw.read_people(write(tmp_path / "dev.txt", "2\nA\t1\nB\t3\n"))
    assert v1 == [[("A", 1), ("B", 3)]]
    with pytest.raises(ValueError, match=r"line 3: expected 'name count'"):
        lfw.read_people(write(tmp_path / "bad.txt", "2\nA\t1\nB\n"))


def test_balanced_folds_and_subset():
    labels = [1] * 10 + [0] * 10
    folds = protocols.balanced_folds(labels, 5)
    for k in range(5):
        assert [labels[i] for i, f in enumerate(folds) if f == k].count(1) == 2
        assert [labels[i] for i, f in enumerate(folds) if f == k].count(0) == 2
    pairs = [lfw.Pair(f, "a", "b", y, i) for i, (f, y) in enumerate(zip([0] * 4 + [1] * 4, [1, 1, 0, 0] * 2))]
    kept = protocols.subset_pairs(pairs, 2)
    assert [(p.fold, p.label) for p in kept] == [(0, 1), (0, 0), (1, 1), (1, 0)]


def test_missing_image_is_an_error_naming_the_line_or_a_counted_drop(tmp_path):
    f = write(tmp_path / "pairs.txt", "1\t2\nA\t1\t2\nA\t1\t3\nA\t1\tB\t1\nA\t2\tB\t1\n")
    available = {"A/A_0001.jpg", "A/A_0002.jpg", "B/B_0001.jpg"}
    with pytest.raises(FileNotFoundError, match=r"pairs.txt: line 3: A/A_0003.jpg is not in the dataset"):
        protocols.verification_pairs(f, None, available, "fail")
    kept, stats = protocols.verification_pairs(f, None, available, "skip")
    assert len(kept) == 3 and stats["pairs_dropped_missing_image"] == 1


def test_a_one_fold_protocol_is_refused_naming_its_folds_key_until_it_sets_folds(tmp_path):
    # View 1's pairs are one set: a test protocol of it needs balanced folds for its k-fold metrics
    f = write(tmp_path / "pairs.txt", "2\nA\t1\t2\nB\t1\t2\nA\t1\tB\t1\nA\t2\tB\t2\n")
    available = {f"{n}/{n}_000{i}.jpg" for n in "AB" for i in (1, 2)}
    where = "datasets.lfw.verification.devtrain"
    with pytest.raises(ValueError, match=rf"{where}: .*pairs.txt gives 1 fold\(s\).*set {where}.folds"):
        protocols.write_pairs_protocol(f, {"pairs": "p"}, available, tmp_path / "p.tsv", where=where)
    assert not (tmp_path / "p.tsv").exists()
    summary = protocols.write_pairs_protocol(f, {"pairs": "p", "folds": 2}, available, tmp_path / "p.tsv", where=where)
    assert summary["folds"] == 2 and summary["pairs"] == 4


@needs_shared
def test_real_view2_is_ten_folds_of_300_same_and_300_different():
    pairs = lfw.read_pairs(LFW / "pairs.txt")
    assert len(pairs) == 6000
    for k in range(10):
        fold = [p for p in pairs if p.fold == k]
        assert len(fold) == 600 and sum(p.label for p in fold) == 300
        assert all(p.fold == i // 600 for i, p in enumerate(pairs))  # the contiguous seed folds
    images = {x for p in pairs for x in (p.path1, p.path2)}
    assert len(images) == 7701
    available = set(lfw.list_images(LFW / "images"))
    assert images <= available and "Betsy_Coffin/Betsy_Coffin_0001.jpg" not in available


@needs_shared
def test_real_view1_and_people_files():
    assert len(lfw.read_pairs(LFW / "pairsDevTrain.txt")) == 2200
    dev_test = lfw.read_pairs(LFW / "pairsDevTest.txt")
    assert len(dev_test) == 1000 and {p.fold for p in dev_test} == {0}
    train = {n for n, _ in lfw.read_people(LFW / "peopleDevTrain.txt")[0]}
    test = {n for n, _ in lfw.read_people(LFW / "peopleDevTest.txt")[0]}
    assert len(train) == 4038 and len(test) == 1711 and not train & test
    assert len(lfw.read_people(LFW / "people.txt")) == 10


def test_fetch_dataset_of_format_lfw_copies_its_files_and_landmark_table(tmp_path):
    from facebench.data.fetch import fetch_dataset
    from facebench.io import sha256_file

    for name in ("A/A_0001.jpg", "A/A_0002.jpg", "B/B_0001.jpg"):
        (tmp_path / "img" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "img" / name).write_bytes(name.encode())
    pairs = write(tmp_path / "pairs.txt", "2\t1\nA\t1\t2\nA\t1\tB\t1\nA\t2\t1\nA\t2\tB\t1\n")  # 2 folds
    table = write(tmp_path / "lm.txt", "A/A_0001.jpg\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\n")
    spec = {"images": {"path": str(tmp_path / "img")}, "files": {"pairs": {"path": str(pairs)}},
            "landmarks": {"provided": {"path": str(table), "sha256": sha256_file(table)}}}
    m = fetch_dataset("tiny", spec, tmp_path / "out")
    assert m["format"] == "lfw" and m["n_images"] == 3
    assert m["files"]["landmarks-provided"]["path"] == (tmp_path / "out/files/landmarks-provided.txt").as_posix()
    assert m["files"]["landmarks-provided"]["sha256"] == sha256_file(table)
    summary = protocols.write_pairs_protocol(m["files"]["pairs"]["path"], {"pairs": "pairs"},
                                             {"A/A_0001.jpg", "A/A_0002.jpg", "B/B_0001.jpg"}, tmp_path / "p.tsv")
    assert summary["pairs"] == 4 and summary["format"] == "lfw"

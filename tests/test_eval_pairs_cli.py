"""`facebench eval-pairs`: the score file format, its errors, and the JSON it prints."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from facebench.evaluate.scores import ScoreFileError, read_scores
from facebench.evaluate.verification import kfold_accuracy
from test_verification import random_scores, seed_protocol


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "facebench", *map(str, args)], capture_output=True, text=True)


def write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_header_is_optional_and_columns_are_found_by_name(tmp_path):
    a = read_scores(write(tmp_path / "a.tsv", ["0.5\t1", "-0.25\t0"]))
    b = read_scores(write(tmp_path / "b.tsv", ["path1\tlabel\tscore", "x\t1\t0.5", "y\t0\t-0.25"]))
    for d in (a, b):
        assert d["score"].tolist() == [0.5, -0.25] and d["label"].tolist() == [1, 0] and "fold" not in d
    c = read_scores(write(tmp_path / "c.tsv", ["0.5\t1\t3", "-0.25\t0\t4"]))
    assert c["fold"].tolist() == [3, 4]


@pytest.mark.parametrize("lines,match", [
    (["score\tlabel", "0.5\t1", "abc\t0"], r"line 3: score 'abc' is not a number"),
    (["0.5\t1", "0.1"], r"line 2: 1 tab-separated field"),
    (["0.5\t1", "0.1\t2"], r"line 2: label 2 is not 0 or 1"),
    (["score\tlabel", "0.5\t1", "nan\t0"], r"line 3: score is missing or not a finite number"),
    (["score\tweight", "0.5\t1"], r"line 1: header .* needs columns 'score' and 'label'"),
    ([""], r"line 1: empty"),
])
def test_malformed_score_files_name_the_line(tmp_path, lines, match):
    with pytest.raises(ScoreFileError, match=match):
        read_scores(write(tmp_path / "bad.tsv", lines))


def test_cli_prints_one_json_object_that_agrees_with_the_seed(tmp_path):
    rng = np.random.default_rng(0)
    scores, labels = random_scores(rng, 600, on_grid=True)
    f = write(tmp_path / "s.tsv", [f"{float(s)!r}\t{y}" for s, y in zip(scores, labels)])
    r = run_cli("eval-pairs", f, "--protocol", "grid")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("accuracy", "std", "threshold", "auc", "eer", "tar_at_far"):
        assert key in out
    acc, std, thd, _, _ = seed_protocol(scores, labels)
    assert (out["accuracy"], out["std"], out["threshold"]) == (acc, std, thd)
    assert set(out["tar_at_far"]) == {"0.001", "0.01"}
    exact = json.loads(run_cli("eval-pairs", f, "--protocol", "exact").stdout)
    assert exact["accuracy"] == kfold_accuracy(scores, labels, search="exact").accuracy


def test_cli_uses_the_fold_column_unless_told_otherwise(tmp_path):
    rng = np.random.default_rng(1)
    scores, labels = random_scores(rng, 400)
    folds = np.arange(400) % 4  # interleaved folds, not contiguous
    f = write(tmp_path / "s.tsv", ["score\tlabel\tfold"] + [f"{s!r}\t{y}\t{k}" for s, y, k in
                                                            zip(scores.tolist(), labels, folds)])
    by_file = json.loads(run_cli("eval-pairs", f).stdout)
    assert by_file["n_folds"] == 4 and by_file["fold_source"] == "file"
    assert by_file["accuracy"] == kfold_accuracy(scores, labels, folds=folds).accuracy
    contiguous = json.loads(run_cli("eval-pairs", f, "--folds", "10").stdout)
    assert contiguous["n_folds"] == 10 and contiguous["accuracy"] == kfold_accuracy(scores, labels).accuracy


def test_cli_bad_file_exits_2_with_the_line(tmp_path):
    f = write(tmp_path / "bad.tsv", ["0.5\t1", "0.4\tyes"])
    r = run_cli("eval-pairs", f)
    assert r.returncode == 2
    assert "bad.tsv: line 2: label 'yes' is not a number" in r.stderr
    r = run_cli("eval-pairs", tmp_path / "none.tsv")
    assert r.returncode == 2 and "no such file" in r.stderr


@pytest.mark.parametrize("lines", [["score\tlabel\tpath", "0.9\t1\tA/a.jpg", "0.2\t0\tB/b.jpg"],
                                   ["0.9\t1", "0.2\t0", "0.7\t1"]], ids=["header", "no-header"])
def test_a_spreadsheet_export_with_bom_and_crlf_reads_as_the_plain_file(tmp_path, lines):
    """A UTF-8 byte-order mark before the first line and CRLF line ends (what spreadsheets export) change nothing."""
    plain = write(tmp_path / "plain.tsv", lines)
    exported = tmp_path / "exported.tsv"
    exported.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    want, got = read_scores(plain), read_scores(exported)
    assert set(got) == set(want) == {"score", "label"}
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])


def test_extra_columns_anywhere_change_nothing(tmp_path):
    """A score file with metadata columns (what `facebench verify` writes, and more: text, empty fields, a column
    before score) evaluates exactly as the file of score, label and fold alone."""
    rng = np.random.default_rng(2)
    scores, labels = random_scores(rng, 400)
    folds = np.arange(400) % 5
    bare = write(tmp_path / "bare.tsv", ["score\tlabel\tfold"] + [f"{s!r}\t{y}\t{k}" for s, y, k in
                                                                zip(scores.tolist(), labels, folds)])
    rich = write(tmp_path / "rich.tsv", ["pair\tscore\tpath1\tlabel\tfold\tpath2\tidentity1\tidentity2\tage1"] + [
        f"{i}\t{s!r}\tA/A_{i:04d}.jpg\t{y}\t{k}\tB/B_{i:04d}.jpg\tA\t{'' if i % 2 else 'B'}\tx{i}"
        for i, (s, y, k) in enumerate(zip(scores.tolist(), labels, folds))])
    want, got = read_scores(bare), read_scores(rich)
    assert set(got) == set(want) == {"score", "label", "fold"}
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])
    for args in ((), ("--protocol", "exact"), ("--folds", "10")):
        a, b = (run_cli("eval-pairs", f, *args) for f in (bare, rich))
        assert a.returncode == b.returncode == 0, a.stderr + b.stderr
        a, b = json.loads(a.stdout), json.loads(b.stdout)
        assert a.pop("scores_file") != b.pop("scores_file")
        assert a == b

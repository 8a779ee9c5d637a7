"""Score files carry metadata columns (pair index, fold, both paths, both identities) taken from the protocol's
pairs file, so accuracy can be broken down; the pairs file carries the identities from the data stage."""
from __future__ import annotations

import numpy as np
from facebench.cli import main
from facebench.data import protocols
from facebench.evaluate.scores import SCORE_COLUMNS, cosine, read_scores, write_scores
from facebench.io import read_tsv, save_npz, write_tsv

# two sets (folds) of two same + two different pairs, LFW's pairs-file format
PAIRS_TXT = "2\t2\nA\t1\t2\nB\t1\t2\nA\t3\tC\t1\nB\t1\tD\t1\nC\t1\t2\nA\t1\t3\nA\t2\tB\t2\nC\t2\tD\t1\n"
WANT = [  # (fold, path1, path2, label, identity1, identity2) in the file's order
    (0, "A/A_0001.jpg", "A/A_0002.jpg", 1, "A", "A"), (0, "B/B_0001.jpg", "B/B_0002.jpg", 1, "B", "B"),
    (0, "A/A_0003.jpg", "C/C_0001.jpg", 0, "A", "C"), (0, "B/B_0001.jpg", "D/D_0001.jpg", 0, "B", "D"),
    (1, "C/C_0001.jpg", "C/C_0002.jpg", 1, "C", "C"), (1, "A/A_0001.jpg", "A/A_0003.jpg", 1, "A", "A"),
    (1, "A/A_0002.jpg", "B/B_0002.jpg", 0, "A", "B"), (1, "C/C_0002.jpg", "D/D_0001.jpg", 0, "C", "D")]
IMAGES = sorted({p for w in WANT for p in w[1:3]})


def protocol(tmp_path):
    src = tmp_path / "pairs.txt"
    src.write_text(PAIRS_TXT)
    out = tmp_path / "pairs-view2.tsv"
    protocols.write_pairs_protocol(src, {"pairs": "pairs"}, set(IMAGES), out)
    return out


def test_the_pairs_file_carries_both_identities_in_the_pair_lists_order(tmp_path):
    header, rows = read_tsv(protocol(tmp_path))
    assert header == list(protocols.PAIRS_COLUMNS)
    assert header[:5] == ["fold", "path1", "path2", "label", "line"]  # the old columns keep their places
    got = [(int(r[0]), r[1], r[2], int(r[3]), r[5], r[6]) for r in rows]
    assert got == WANT
    p = protocols.read_pairs_tsv(tmp_path / "pairs-view2.tsv")
    assert p["pair"].tolist() == list(range(len(WANT)))
    assert p["identity1"].tolist() == [w[4] for w in WANT] and p["identity2"].tolist() == [w[5] for w in WANT]


def test_a_pairs_file_without_identity_columns_still_reads(tmp_path):
    old = tmp_path / "old.tsv"
    write_tsv(old, ["fold", "path1", "path2", "label", "line"], [(w[0], w[1], w[2], w[3], k + 2)
                                                                 for k, w in enumerate(WANT)])
    p = protocols.read_pairs_tsv(old)
    assert p["label"].tolist() == [w[3] for w in WANT] and p["identity1"].tolist() == [""] * len(WANT)


def test_verify_writes_the_metadata_of_each_scored_pair(tmp_path):
    pairs = protocol(tmp_path)
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(len(IMAGES), 8)).astype(np.float32)
    status = np.array(["failed" if p == "D/D_0001.jpg" else "aligned" for p in IMAGES])  # drops pairs 3 and 7
    emb = tmp_path / "emb.npz"
    save_npz(emb, paths=np.array(IMAGES), status=status, features=feats, features_flip=feats[:, ::-1].copy())
    assert main(["verify", "--embeddings", str(emb), "--pairs", str(pairs), "--features", "plain",
                 "--search", "exact", "--scores", str(tmp_path / "s-{features}.tsv"),
                 "--metrics", str(tmp_path / "m-{features}-{search}")]) == 0
    header, rows = read_tsv(tmp_path / "s-plain.tsv")
    assert header == list(SCORE_COLUMNS) and header[:5] == ["score", "label", "fold", "path1", "path2"]
    col = {c: [r[header.index(c)] for r in rows] for c in header}
    kept = [0, 1, 2, 4, 5, 6]
    assert [int(v) for v in col["pair"]] == kept
    for c, k in (("fold", 0), ("path1", 1), ("path2", 2), ("label", 3), ("identity1", 4), ("identity2", 5)):
        assert col[c] == [str(WANT[i][k]) for i in kept], c
    row = {p: i for i, p in enumerate(IMAGES)}
    want = cosine(feats[[row[WANT[i][1]] for i in kept]], feats[[row[WANT[i][2]] for i in kept]])
    assert [float(v) for v in col["score"]] == want.tolist()
    s = read_scores(tmp_path / "s-plain.tsv")  # eval-pairs' reader: the metadata columns are ignored
    assert set(s) == {"score", "label", "fold"} and s["fold"].tolist() == [WANT[i][0] for i in kept]


def test_formats_without_identities_leave_them_empty_and_the_report_reader_still_works(tmp_path):
    s = {"score": np.array([0.5, -0.1]), "label": np.array([1, 0]), "fold": np.array([0, 0]),
         "path1": np.array(["000000.jpg", "000002.jpg"]), "path2": np.array(["000001.jpg", "000003.jpg"])}
    write_scores(tmp_path / "s.tsv", s)  # a result without metadata: row index, empty identities
    header, rows = read_tsv(tmp_path / "s.tsv")  # how report/build.py reads path1/path2 by name
    assert [r[header.index("pair")] for r in rows] == ["0", "1"]
    assert [(r[header.index("path1")], r[header.index("identity1")]) for r in rows] == [("000000.jpg", ""),
                                                                                       ("000002.jpg", "")]
    pairs = [protocols.lfw.Pair(0, "a.jpg", "b.jpg", 1, 1)]
    assert protocols.pair_identities(pairs, "trials") == [("", "")]
    assert protocols.pair_identities(pairs, "insightface-bin") == [("", "")]

"""The report cites its sources as documents, and a seed row the profile cannot fill names the shipped profile that
fills it, read from the profiles themselves."""
from pathlib import Path

import pytest
import yaml
from facebench.report.build import citation
from facebench.report.profiles import filled_by, read_profiles

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = yaml.safe_load((ROOT / "report/published.yaml").read_text(encoding="utf-8"))
SHIPPED = [str(ROOT / "config.yaml")] + sorted(str(p) for p in (ROOT / "config").glob("*.yaml"))


def test_every_source_is_cited_by_title_and_authors_and_none_by_a_path():
    for key, src in PUBLISHED["sources"].items():
        cite = citation(PUBLISHED["sources"], key)
        assert src["title"] in cite["text"] and src["authors"] in cite["text"], key
        assert "shared" not in cite["text"] and "/seeds/" not in cite["text"], key


def test_a_source_given_as_a_path_or_without_authors_is_refused_naming_its_key():
    with pytest.raises(ValueError, match=r"sources\.s1\.file"):
        citation({"s1": {"title": "t", "authors": "a", "file": "../shared/seeds/x.txt"}}, "s1")
    with pytest.raises(ValueError, match=r"sources\.s2 needs authors"):
        citation({"s2": {"title": "t"}}, "s2")
    with pytest.raises(ValueError, match="'nope' is not under sources"):
        citation({}, "nope")


def _profile(tmp_path, name, profile, runs, needs=""):
    datasets = {d: {"verification": {p: {}}} for (_, d, _, p) in runs}
    evaluate = [{"model": m, "dataset": d, "alignments": [a]} for (m, d, a, _) in runs]
    path = tmp_path / "config" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump({"profile": profile, "datasets": datasets, "evaluate": evaluate,
                                    "report": {"needs": needs}}))
    return str(path)


def test_a_row_names_the_preferred_other_profile_that_runs_it_and_what_it_needs(tmp_path):
    full = _profile(tmp_path, "full.yaml", "full", [("m", "lfw", "provided", "view2")], needs="a GPU")
    mini = _profile(tmp_path, "lfw-mini.yaml", "lfw-mini", [("m", "lfw", "provided", "devtest")], needs="2 cores")
    profiles = read_profiles([full, mini])
    assert [p["name"] for p in profiles] == ["config/lfw-mini.yaml", "config/full.yaml"]  # the stated preference
    row = {"model": "m", "dataset": "lfw", "alignment": "provided", "protocol": ["view2", "devtest"]}
    assert filled_by(profiles, row, current="smoke") == "config/lfw-mini.yaml fills it (needs 2 cores)"
    assert filled_by(profiles, row, current="lfw-mini") == "config/full.yaml fills it (needs a GPU)"
    assert filled_by(profiles, {**row, "alignment": "mtcnn"}, current="smoke") is None


def test_a_profile_evaluating_an_unknown_dataset_is_refused_naming_it(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"evaluate": [{"model": "m", "dataset": "nope", "alignments": ["a"]}]}))
    with pytest.raises(ValueError, match=r"bad\.yaml: evaluate\[0\]\.dataset 'nope'"):
        read_profiles([str(path)])


def test_every_seed_row_and_claim_is_filled_by_some_shipped_profile():
    profiles = read_profiles(SHIPPED)
    rows = [r["ours"] for t in PUBLISHED["tables"] for r in t["rows"]]
    rows += [c[s] for c in PUBLISHED.get("claims", []) for s in ("a", "b")]
    unfilled = [r for r in rows if filled_by(profiles, r, current=None) is None]
    assert not unfilled
    assert all(p["needs"] for p in profiles), [p["name"] for p in profiles if not p["needs"]]


def test_reproduce_runs_every_row_that_the_cpu_profiles_it_joins_run():
    profiles = {p["name"]: p for p in read_profiles(SHIPPED)}
    joined = ("config/lfw-local.yaml", "config/lfw-mini.yaml", "config/studies-mini.yaml")
    rows = [r["ours"] for t in PUBLISHED["tables"] for r in t["rows"]]
    rows += [c[s] for c in PUBLISHED.get("claims", []) for s in ("a", "b")]
    for row in rows:
        by = [n for n in joined if filled_by([profiles[n]], row, current=None)]
        if by:
            assert filled_by([profiles["config/reproduce.yaml"]], row, current=None), (row, by)

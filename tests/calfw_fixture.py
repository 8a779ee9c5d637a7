"""A tree in CALFW's release format made from LFW images, built under a test's tmp_path: the real ones of
../shared/data/lfw where they exist, else the dataset tests/synthetic.py generates in the same layout (plumbing either
way: the tests check files and counts, not faces). Nothing of the shared data is ever copied into the repository.

``build(dest)`` writes

- ``dest/images/<Name>_<NNNN>.jpg``: flat copies of LFW's 150 px images (CALFW's flat layout);
- ``dest/landmarks/<stem>_5loc_attri.txt``: five lines ``x y`` in the image's own pixels (LFW's provided 250 px
  points scaled by 0.6 about pixel centres), for every image but ``Fixture.no_landmarks``;
- ``dest/pairs_CALFW.txt``: two ``image label`` lines per pair, all same-person pairs first (label = a number shared
  by the two lines), then the different-person pairs (label 0), as in CALFW.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from smoke import data_root

N_SAME = 20  # identities with two images, one same-person pair each
N_SINGLE = 10  # identities with one image, only in different-person pairs
LFW_SCALE = 0.6  # LFW's provided points are in the 250 px frame, the shared images are 150 px


@dataclass(frozen=True)
class Fixture:
    root: Path
    images: Path
    landmarks: Path
    pairs: Path
    same: list[tuple[str, str]]
    different: list[tuple[str, str]]
    two_image_identities: list[str]
    single_image_identities: list[str]
    no_landmarks: str

    @property
    def all_images(self) -> list[str]:
        return sorted({name for pair in self.same + self.different for name in pair})


def lfw() -> Path:
    """The LFW tree the fixture copies from: ../shared/data/lfw, else the generated one (tests/smoke.py)."""
    return data_root() / "lfw"


def _lfw_points() -> dict[str, list[float]]:
    """LFW's provided landmarks by image path ``<Name>/<Name>_<NNNN>.jpg`` (250 px frame)."""
    rows = {}
    for line in (lfw() / "lfw_landmark_250px.txt").read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        rows[fields[0]] = [float(v) for v in fields[1:11]]
    return rows


def _pick(points: dict[str, list[float]]) -> tuple[list[str], list[str]]:
    """The first identities (by name) with two or more images, and the first with exactly one."""
    counts: dict[str, int] = {}
    for path in points:
        counts[path.split("/")[0]] = counts.get(path.split("/")[0], 0) + 1
    names = sorted(counts)
    two = [n for n in names if counts[n] >= 2][:N_SAME]
    one = [n for n in names if counts[n] == 1][:N_SINGLE]
    return two, one


def _write_landmarks(folder: Path, flat: str, points: list[float]) -> None:
    # scaled about pixel centres, as images are resized: p' = (p + 0.5) * s - 0.5
    own = [(v + 0.5) * LFW_SCALE - 0.5 for v in points]
    lines = [f"{own[2 * i]:.3f} {own[2 * i + 1]:.3f}" for i in range(5)]
    (folder / f"{Path(flat).stem}_5loc_attri.txt").write_text("\n".join(lines) + "\n")


def build(dest: str | Path) -> Fixture:
    """Write the CALFW-format tree under ``dest``."""
    dest = Path(dest)
    images, folder = dest / "images", dest / "landmarks"
    images.mkdir(parents=True)
    folder.mkdir()
    points = _lfw_points()
    two, one = _pick(points)
    same = [(f"{n}_0001.jpg", f"{n}_0002.jpg") for n in two]
    different = [(f"{two[k]}_0001.jpg", f"{one[k]}_0001.jpg") for k in range(N_SINGLE)]
    different += [(f"{two[k]}_0002.jpg", f"{two[(k + 1) % N_SAME]}_0001.jpg") for k in range(N_SAME - N_SINGLE)]
    no_landmarks = f"{one[0]}_0001.jpg"
    flat_names = sorted({name for pair in same + different for name in pair})
    for flat in flat_names:
        lfw_path = f"{flat.rsplit('_', 1)[0]}/{flat}"
        shutil.copyfile(lfw() / "images" / lfw_path, images / flat)
        if flat != no_landmarks:
            _write_landmarks(folder, flat, points[lfw_path])
    lines = [f"{a} {k + 1}\n{b} {k + 1}\n" for k, (a, b) in enumerate(same)]
    lines += [f"{a} 0\n{b} 0\n" for a, b in different]
    pairs = dest / "pairs_CALFW.txt"
    pairs.write_text("".join(lines))
    return Fixture(dest, images, folder, pairs, same, different, two, one, no_landmarks)

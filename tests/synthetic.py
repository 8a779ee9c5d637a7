"""A small dataset in the layout of ../shared/data, drawn deterministically from a seed, for the DAG tests on machines
without the real LFW copy. It tests plumbing (every rule runs, resumes, survives faults, reaches the report), never
accuracy: the faces are drawings, the detector finds nothing, the "pretrained" model is random.

Layout under ``root`` (the paths of ../shared/data, so a profile's ``../shared/data/...`` paths map one to one):

- ``lfw/images/<Name>/<Name>_NNNN.jpg``: 150x150 JPEGs, as the shared copy (the 250 px frame scaled by 0.6), of 40
  identities with 2-6 images each and 10 with one. Each identity has its own face geometry and colours (skin ellipse,
  eyes, nose, mouth, hair, background); each image of it a small random shift, turn, scale and brightness change,
  and pixel noise.
- ``lfw/lfw_landmark_250px.txt``: ``path x1 y1 ... x5 y5`` (tab separated; left eye, right eye, nose, left and right
  mouth corner) in the 250x250 frame: where the points were drawn.
- ``lfw/pairs.txt``: View 2, ``10 30`` then 10 folds of 30 same-person lines ``name i j`` and 30 different-person
  lines ``name1 i name2 j``; the folds are identity-disjoint, as LFW's.
- ``lfw/pairsDevTest.txt`` (View 1, ``N`` then N same and N different lines), ``lfw/peopleDevTrain.txt`` and
  ``lfw/peopleDevTest.txt`` (``count`` then ``name n`` lines; the two people files are disjoint).
- ``lfw/published-roc/synthetic-roc.txt``: one made-up curve in a published layout (TPR then FPR, spaces).
- ``weights/mtcnn/{pnet,rnet,onet}.pt``: state dicts of the project's own MTCNN nets (facebench.detect.nets), random
  but for the face/non-face layers, set to say "no face" everywhere: every MTCNN alignment falls back to the centre
  crop, and is counted so.
- ``weights/pretrained/mobilefacenet_arcface_casia_112x112.pth``: a random-init MobileFaceNet (128-d) state dict with
  the key prefix ``arcface.``, as the profiles' ``pretrained`` model imports it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np

SHARED_PREFIX = "../shared/data"  # how the profiles spell the shared copy
FRAME = 250  # the landmark frame
SIZE = 150  # the images' size, as the shared copy's
FOLDS, PER_FOLD = 10, 30  # View 2: 10 folds of 30 same + 30 different pairs (smoke cuts 60 per fold: all of them)
IDS_PER_FOLD = 4
# images per identity in each fold, shuffled per fold: 1 + 10 + 15 + 15 = 41 same-person pairs to draw 30 from, and
# 3 identities per fold with the 4+ images the profiles' training sets ask for
COUNTS = [2, 5, 6, 6]
SINGLES = 10  # identities with one image, in no protocol file (as most of LFW's): for tests/calfw_fixture.py
DEV_TRAIN_FOLDS = 7  # the identities of folds 0-6 are peopleDevTrain (21 with 4+ images), the rest peopleDevTest
DEV_TEST_PAIRS = 20
ROC_FILE = "synthetic-roc.txt"
PRETRAINED = "weights/pretrained/mobilefacenet_arcface_casia_112x112.pth"
PRETRAINED_SPEC = {"backbone": "mobilefacenet", "backbone_args": {"embedding_size": 128}, "key_prefix": "arcface."}


@dataclass
class Dataset:
    root: Path  # stands in for ../shared/data
    identities: dict[str, int]  # name -> number of images

    @property
    def lfw(self) -> Path:
        return self.root / "lfw"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- faces
def identity_look(rng: np.random.Generator) -> dict:
    """One identity's face in the 250 px frame: geometry near LFW's mean landmarks, colours far apart."""
    cx, cy = 125 + rng.uniform(-4, 4), 130 + rng.uniform(-4, 4)
    eye_gap, eye_y = rng.uniform(32, 48), cy - rng.uniform(18, 28)
    return {
        "centre": (cx, cy), "axes": (rng.uniform(40, 52), rng.uniform(52, 66)),
        "eyes": [(cx - eye_gap / 2, eye_y), (cx + eye_gap / 2, eye_y)], "eye_radius": rng.uniform(4, 7),
        "nose": (cx + rng.uniform(-3, 3), cy + rng.uniform(6, 16)),
        "mouth_y": cy + rng.uniform(26, 36), "mouth_half": rng.uniform(14, 22),
        "skin": skin_tone(rng), "iris": rng.uniform(0, 120, 3), "hair": rng.uniform(0, 255, 3),
        "background": rng.uniform(0, 255, 3), "lips": rng.uniform(40, 200, 3),
    }


def skin_tone(rng: np.random.Generator) -> np.ndarray:
    """A BGR skin colour between a light and a dark tone, with a little of each channel's own variation."""
    light, dark = np.array([180.0, 200.0, 240.0]), np.array([60.0, 90.0, 140.0])
    t = rng.uniform(0, 1)
    return np.clip(light * (1 - t) + dark * t + rng.uniform(-15, 15, 3), 0, 255)


def canonical_points(look: dict) -> np.ndarray:
    """The five landmarks of a look, (5, 2) in the 250 px frame."""
    (lx, ly), (rx, ry) = look["eyes"]
    mx, my, half = look["nose"][0], look["mouth_y"], look["mouth_half"]
    return np.array([[lx, ly], [rx, ry], look["nose"], [mx - half, my], [mx + half, my]], dtype=np.float64)


def draw(look: dict) -> np.ndarray:
    """The identity's face, upright, on a 250x250 BGR canvas."""
    img = np.empty((FRAME, FRAME, 3), np.uint8)
    img[:] = look["background"]
    (cx, cy), (ax, ay) = look["centre"], look["axes"]
    pt = lambda p: (int(round(p[0])), int(round(p[1])))  # noqa: E731
    cv2.ellipse(img, pt((cx, cy - ay * 0.35)), pt((ax * 1.08, ay * 0.8)), 0, 180, 360, look["hair"].tolist(), -1)
    cv2.ellipse(img, pt((cx, cy)), pt((ax, ay)), 0, 0, 360, look["skin"].tolist(), -1, cv2.LINE_AA)
    points = canonical_points(look)
    for eye in points[:2]:
        cv2.circle(img, pt(eye), int(round(look["eye_radius"] * 1.8)), (245, 245, 245), -1, cv2.LINE_AA)
        cv2.circle(img, pt(eye), int(round(look["eye_radius"])), look["iris"].tolist(), -1, cv2.LINE_AA)
    nose = points[2]
    shade = (look["skin"] * 0.6).tolist()
    cv2.line(img, pt((nose[0], nose[1] - 18)), pt(nose), shade, 3, cv2.LINE_AA)
    cv2.circle(img, pt(nose), 4, shade, -1, cv2.LINE_AA)
    cv2.line(img, pt(points[3]), pt(points[4]), look["lips"].tolist(), 5, cv2.LINE_AA)
    return img


def photograph(face: np.ndarray, points: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One image of a face: a small random similarity about the centre, a brightness change and noise; returns the
    150 px JPEG-ready image and its five points moved with it (still in the 250 px frame)."""
    m = cv2.getRotationMatrix2D((FRAME / 2, FRAME / 2), rng.uniform(-6, 6), rng.uniform(0.95, 1.05))
    m[:, 2] += rng.uniform(-5, 5, 2)
    img = cv2.warpAffine(face, m, (FRAME, FRAME), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    img = img.astype(np.float64) * rng.uniform(0.85, 1.15) + rng.normal(0, 6, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    moved = points @ m[:, :2].T + m[:, 2]
    return cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_AREA), moved


# ---------------------------------------------------------------- protocol files
def image_index(name: str, i: int) -> str:
    return f"{name}/{name}_{i:04d}.jpg"


def same_and_different(rng, names: list[str], counts: dict[str, int], n: int) -> tuple[list, list]:
    """n distinct same-person pairs (name, i, j) and n distinct different-person pairs (name1, i, name2, j) among
    ``names``, sorted by name as LFW lists them (1-based image numbers)."""
    same = [(a, i, j) for a in names for i, j in combinations(range(1, counts[a] + 1), 2)]
    diff = [(a, i, b, j) for a, b in combinations(sorted(names), 2)
            for i in range(1, counts[a] + 1) for j in range(1, counts[b] + 1)]
    pick = lambda rows: sorted(rows[k] for k in rng.choice(len(rows), n, replace=False))  # noqa: E731
    return pick(same), pick(diff)


def pair_lines(same: list, diff: list) -> list[str]:
    return ["\t".join(map(str, p)) for p in same] + ["\t".join(map(str, p)) for p in diff]


def people_file(path: Path, names: list[str], counts: dict[str, int]) -> None:
    path.write_text(f"{len(names)}\n" + "".join(f"{n}\t{counts[n]}\n" for n in names))


# ---------------------------------------------------------------- weights
def write_weights(root: Path, seed: int) -> None:
    import torch
    from facebench.detect.nets import NETS
    from facebench.models import build

    torch.manual_seed(seed)
    (root / "weights/mtcnn").mkdir(parents=True)
    for name, net_class in NETS.items():
        net = net_class()
        # the face / non-face layer (the first output layer with two channels) says "no face" for every window
        layer = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
                 and m.weight.shape[0] == 2][0]
        with torch.no_grad():
            layer.weight.zero_()
            layer.bias.copy_(torch.tensor([10.0, -10.0]))  # softmax: P(face) = e^-20
        torch.save(net.state_dict(), root / f"weights/mtcnn/{name}.pt")
    model = build(PRETRAINED_SPEC["backbone"], **PRETRAINED_SPEC["backbone_args"])
    state = {PRETRAINED_SPEC["key_prefix"] + k: v for k, v in model.state_dict().items()}
    (root / PRETRAINED).parent.mkdir(parents=True)
    torch.save(state, root / PRETRAINED)


# ---------------------------------------------------------------- the whole tree
def build(root: Path, seed: int = 0) -> Dataset:
    """Write the dataset under ``root`` (created; must not exist). The same seed gives the same images and files."""
    rng = np.random.default_rng(seed)
    lfw = root / "lfw"
    (lfw / "images").mkdir(parents=True)
    names = [f"Person_{k:02d}" for k in range(FOLDS * IDS_PER_FOLD)]
    fold_of = {n: k // IDS_PER_FOLD for k, n in enumerate(names)}
    counts = {}
    for fold in range(FOLDS):
        members = names[fold * IDS_PER_FOLD:(fold + 1) * IDS_PER_FOLD]
        counts.update(zip(members, rng.permutation(COUNTS).tolist()))
    singles = [f"Person_{k:02d}" for k in range(len(names), len(names) + SINGLES)]
    counts.update(dict.fromkeys(singles, 1))

    landmark_lines = []
    for name in names + singles:
        look = identity_look(rng)
        face, points = draw(look), canonical_points(look)
        (lfw / "images" / name).mkdir()
        for i in range(1, counts[name] + 1):
            img, moved = photograph(face, points, rng)
            rel = image_index(name, i)
            ok, jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
            assert ok, rel
            (lfw / "images" / rel).write_bytes(jpeg.tobytes())
            landmark_lines.append("\t".join([rel, *(f"{v:.0f}" for v in moved.reshape(-1))]))
    (lfw / "lfw_landmark_250px.txt").write_text("".join(f"{line}\n" for line in landmark_lines))

    view2 = [f"{FOLDS}\t{PER_FOLD}"]
    for fold in range(FOLDS):
        view2 += pair_lines(*same_and_different(rng, [n for n in names if fold_of[n] == fold], counts, PER_FOLD))
    (lfw / "pairs.txt").write_text("\n".join(view2) + "\n")

    dev_train = [n for n in names if fold_of[n] < DEV_TRAIN_FOLDS]
    dev_test = [n for n in names if fold_of[n] >= DEV_TRAIN_FOLDS]
    people_file(lfw / "peopleDevTrain.txt", dev_train, counts)
    people_file(lfw / "peopleDevTest.txt", dev_test, counts)
    view1 = [str(DEV_TEST_PAIRS), *pair_lines(*same_and_different(rng, dev_test, counts, DEV_TEST_PAIRS))]
    (lfw / "pairsDevTest.txt").write_text("\n".join(view1) + "\n")

    roc = lfw / "published-roc"
    roc.mkdir()
    fpr = np.linspace(1.0, 0.0, 21)
    roc.joinpath(ROC_FILE).write_text("".join(f"{f ** 0.2:.6f} {f:.6f}\n" for f in fpr))  # TPR FPR, descending

    write_weights(root, seed)
    return Dataset(root, counts)


def derive_config(cfg: dict, data: Dataset) -> dict:
    """A profile (as loaded from config/) pointed at the generated dataset: every ``../shared/data/...`` path becomes
    the generated file, with its sha256 recomputed, and the published ROC overlay takes the generated curve. A path
    the dataset does not generate is an error naming it."""

    def visit(node):
        if isinstance(node, dict):
            path = node.get("path")
            if isinstance(path, str) and path.startswith(SHARED_PREFIX):
                local = data.root / path[len(SHARED_PREFIX):].lstrip("/")
                if not local.exists():
                    raise FileNotFoundError(f"tests/synthetic.py generates no {path} (as {local})")
                node["path"] = str(local)
                if "sha256" in node:
                    node["sha256"] = sha256(local)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(cfg)
    roc = cfg.get("report", {}).get("published_roc")
    if roc and "methods" in roc:
        roc["methods"] = [ROC_FILE]
    return cfg

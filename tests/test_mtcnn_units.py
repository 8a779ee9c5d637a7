"""MTCNN building blocks: NMS against brute force, the pyramid, the batched crop-and-resize; decoding ahead of it."""
import numpy as np
import pytest
import torch
from conftest import LFW, SHARED, needs_shared
from facebench.detect.mtcnn import Faces, Settings, crop_resize, integral_images, pyramid_scales
from facebench.detect.nms import nms, overlap
from torch.nn import functional as F


def brute_nms(boxes, scores, groups, threshold, mode, inclusive):
    """One group at a time, one box at a time: the textbook greedy loop."""
    add = 1.0 if inclusive else 0.0
    keep = []
    for g in np.unique(groups):
        idx = [i for i in np.argsort(-scores, kind="stable") if groups[i] == g]
        while idx:
            i = idx.pop(0)
            keep.append(i)
            rest = []
            for j in idx:
                a, b = boxes[i], boxes[j]
                iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + add)
                ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + add)
                inter = iw * ih
                area_a = (a[2] - a[0] + add) * (a[3] - a[1] + add)
                area_b = (b[2] - b[0] + add) * (b[3] - b[1] + add)
                denom = min(area_a, area_b) if mode == "min" else area_a + area_b - inter
                if (inter / denom if denom > 0 else 0.0) <= threshold:
                    rest.append(j)
            idx = rest
    return sorted(keep)


def random_boxes(rng, n, groups):
    xy = rng.uniform(0, 80, (n, 2))
    wh = rng.uniform(2, 40, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    return boxes, rng.permutation(n).astype(float) / n, rng.integers(0, groups, n)


@pytest.mark.parametrize("mode", ["union", "min"])
@pytest.mark.parametrize("inclusive", [False, True])
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_matches_brute_force(mode, inclusive, threshold):
    rng = np.random.default_rng(int(threshold * 10) + 7 * inclusive + 3 * (mode == "min"))
    for _ in range(20):
        boxes, scores, groups = random_boxes(rng, int(rng.integers(1, 120)), int(rng.integers(1, 6)))
        got = sorted(nms(boxes, scores, groups, threshold, mode, inclusive).tolist())
        assert got == brute_nms(boxes, scores, groups, threshold, mode, inclusive)


def test_nms_orders_by_group_then_score_and_handles_empty():
    assert nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)).size == 0
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], float)
    scores = np.array([0.5, 0.9, 0.8, 0.1])
    groups = np.array([0, 0, 1, 0])
    # group 0: box 1 beats box 0 (IoU 0.68 > 0.5), box 3 is apart; group 1 alone
    assert nms(boxes, scores, groups, 0.5).tolist() == [1, 3, 2]


def test_overlap_modes():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[0, 0, 5, 10]], float)
    assert overlap(a, b, "union")[0] == pytest.approx(0.5)
    assert overlap(a, b, "min")[0] == pytest.approx(1.0)
    assert overlap(a, b, "union", inclusive=True)[0] == pytest.approx(66 / 121)
    with pytest.raises(ValueError, match="NMS mode"):
        overlap(a, b, "max")


def test_pyramid_scales():
    scales = pyramid_scales(150, 150, 20, 0.709)
    assert scales[0] == pytest.approx(0.6)
    assert np.allclose(np.diff(np.log(scales)), np.log(0.709))
    # the smallest scale still gives P-Net a 12 px input; one more step would not
    assert 150 * scales[-1] >= 12 > 150 * scales[-1] * 0.709
    assert len(scales) == 6
    # the largest face seen (12 / smallest scale) reaches the image side; a bigger min face size means fewer scales
    assert len(pyramid_scales(150, 150, 40, 0.709)) < len(scales)
    assert pyramid_scales(10, 200, 20, 0.709) == []
    with pytest.raises(ValueError, match="min_face_size"):
        Settings(min_face_size=8)


def test_crop_resize_equals_area_interpolation():
    rng = np.random.default_rng(0)
    imgs = torch.from_numpy(rng.integers(0, 256, (3, 40, 50, 3), dtype=np.uint8))
    integral = integral_images(imgs)
    windows = torch.tensor([[0, 0, 50, 40], [3, 5, 20, 17], [10, 2, 13, 30], [7, 7, 8, 8]])  # x0, y0, x1, y1
    image_idx = torch.tensor([0, 1, 2, 1])
    for size in (24, 48):
        got = crop_resize(integral, image_idx, windows, size)
        for k, (x0, y0, x1, y1) in enumerate(windows.tolist()):
            crop = imgs[image_idx[k], y0:y1, x0:x1].permute(2, 0, 1).float().unsqueeze(0)
            want = F.interpolate(crop, size=(size, size), mode="area")[0]
            assert torch.allclose(got[k], want, atol=1e-3)


def test_the_nets_run_channels_last_with_the_values_of_the_contiguous_layout(tmp_path):
    """load_net hands back channels-last nets (no layout copy around each pooling): every output, the dense layers'
    flattening included, equals the same weights run in the contiguous layout with PyTorch's own pooling."""
    from facebench.detect.nets import NETS, MaxPool, load_net

    torch.manual_seed(0)
    for name, size in (("pnet", (45, 38)), ("rnet", (24, 24)), ("onet", (48, 48))):
        ref = NETS[name]().eval()
        torch.save(ref.state_dict(), tmp_path / f"{name}.pt")
        net = load_net(name, tmp_path / f"{name}.pt")
        assert all(p.is_contiguous(memory_format=torch.channels_last) for p in net.parameters() if p.dim() == 4)
        for attr, module in list(vars(ref)["_modules"].items()):
            if isinstance(module, MaxPool):
                setattr(ref, attr, torch.nn.MaxPool2d(module.kernel_size, module.stride, ceil_mode=True))
        x = torch.randn(5, 3, *size)
        with torch.no_grad():
            for got, want in zip(net(x.contiguous(memory_format=torch.channels_last)), ref(x), strict=True):
                assert got.shape == want.shape and torch.allclose(got, want, atol=1e-5)


def test_pick_policies():
    faces = Faces(boxes=np.array([[0, 0, 60, 60], [40, 40, 70, 70]], np.float32), scores=np.ones(2, np.float32),
                  points=np.zeros((2, 5, 2), np.float32))
    assert faces.pick(110, 110, "largest") == 0
    assert faces.pick(110, 110, "central") == 1
    assert Faces().pick(110, 110, "central") is None


# ---------------------------------------------------------------- decoding in a pool ahead of the detector (issue 22)


class ContentDetector:
    """The detector's interface, answering from the pixels: one face whose box and points follow each image's
    mean colour, none for dark images; so a decoded image landing at another name would change the result."""
    settings = Settings(select="largest", min_face_size=20)
    device = torch.device("cpu")

    def __init__(self):
        self.batches = []

    def detect(self, images):
        self.batches.append(images.shape)
        out = []
        for img in images:
            m = img.reshape(-1, 3).mean(0)
            if m.mean() < 40:
                out.append(Faces())
                continue
            box = np.array([[m[0] / 10, m[1] / 10, m[0] / 10 + 20, m[1] / 10 + 30]], np.float32)
            points = (np.arange(10, dtype=np.float32).reshape(1, 5, 2) + m[2] / 7).astype(np.float32)
            out.append(Faces(box, np.ones(1, np.float32), points))
        return out


def landmark_fixture(root):
    """Images of three sizes (so chunks split by size), one dark (no face), one grayscale (converted), one too small
    and one not an image; in an order that interleaves the sizes."""
    from PIL import Image

    rng = np.random.default_rng(3)
    names = []
    for i in range(11):
        size = [(60, 50), (80, 80), (45, 70)][i % 3]
        img = rng.integers(0, 30 if i == 4 else 256, (size[1], size[0], 3), dtype=np.uint8)
        name = f"d{i % 2}/img{i:02d}.jpg"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).convert("L" if i == 7 else "RGB").save(root / name, quality=90)
        names.append(name)
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(root / "small.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    return names[:5] + ["small.png"] + names[5:8] + ["broken.jpg", "missing.jpg"] + names[8:]


def as_rows(table):
    """Each record as plain values, NaN (the failed records' points and box) as None: NaN != NaN."""
    def plain(a):
        return [None if np.isnan(v) else float(v) for v in np.ravel(a)]
    return [(n, lm.flag, plain(lm.points), plain(lm.box)) for n, lm in table.items()]


def test_decoding_in_a_pool_gives_the_same_landmarks_in_the_same_order(tmp_path):
    from facebench.detect.landmarking import landmark_images

    names = landmark_fixture(tmp_path)
    runs = {}
    for decoders in (0, 1, 3):
        for threads in (1, 2):
            det = ContentDetector()
            table, summary = landmark_images(tmp_path, names, det, batch_size=4, threads=threads, decoders=decoders)
            runs[decoders, threads] = (as_rows(table), summary)
    ref_rows, ref_summary = runs[0, 1]
    assert [r[0] for r in ref_rows] == names
    flags = {r[0]: r[1] for r in ref_rows}
    assert flags["small.png"] == "too-small" and flags["broken.jpg"] == flags["missing.jpg"] == "unreadable"
    assert flags[names[4]] == "no-face" and ref_summary["counts"]["converted"] == 1
    assert ref_summary["counts"]["ok"] == len(names) - 4
    for key, (rows, summary) in runs.items():
        assert rows == ref_rows, key  # exactly: the same pixels reach the same detector
        assert summary == ref_summary, key


def test_the_decoders_run_ahead_by_a_bounded_amount():
    from concurrent.futures import ThreadPoolExecutor

    from facebench.detect.landmarking import _ordered

    pulled = []

    def items():
        for i in range(50):
            pulled.append(i)
            yield i

    with ThreadPoolExecutor(3) as pool:
        got = []
        for value in _ordered(pool, lambda i: i * i, items(), ahead=5):
            assert len(pulled) - len(got) <= 5  # never more than `ahead` taken and not yet used
            got.append(value)
    assert got == [i * i for i in range(50)]


def test_decoders_by_default_only_on_a_gpu():
    from facebench.detect.landmarking import default_decoders

    assert default_decoders(torch.device("cpu"), 4) == 0
    assert default_decoders(torch.device("cuda"), 1) == 2
    assert default_decoders(torch.device("cuda"), 6) == 6


@needs_shared
def test_the_real_cascade_gives_the_same_landmarks_with_and_without_decoders():
    from facebench.detect.landmarking import landmark_images
    from facebench.detect.mtcnn import MTCNN

    names = sorted(p.relative_to(LFW / "images").as_posix() for p in (LFW / "images").glob("A*/*_0001.jpg"))[:6]
    det = MTCNN({k: SHARED / "weights" / "mtcnn" / f"{k}.pt" for k in ("pnet", "rnet", "onet")})
    plain, s0 = landmark_images(LFW / "images", names, det, batch_size=4, threads=1, decoders=0)
    pooled, s1 = landmark_images(LFW / "images", names, det, batch_size=4, threads=1, decoders=2)
    assert s0["counts"]["ok"] == len(names) and s0 == s1
    assert as_rows(plain) == as_rows(pooled)

"""Figures for the report, returned as PNG bytes (embedded in the page, so it opens offline)."""
from __future__ import annotations

import base64
import io
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def b64(data: bytes) -> str:
    """PNG bytes as the base64 text of a data: URL (every image is embedded, so the page opens offline)."""
    return base64.b64encode(data).decode("ascii")


def roc_figure(curves: list[dict]) -> bytes:
    """ROC curves (TPR against FPR on a log axis). Each curve: label, fpr, tpr, and optional style hints."""
    fig, ax = plt.subplots(figsize=(9.6, 4.6))  # room on the right for the legend, which must not hide curves
    colours = plt.get_cmap("tab10" if len(curves) <= 10 else "tab20")  # no two curves share a colour up to 20
    for i, c in enumerate(curves):
        fpr = np.asarray(c["fpr"])
        tpr = np.asarray(c["tpr"])
        keep = fpr > 0
        ax.step(fpr[keep], tpr[keep], where="post", label=c["label"], lw=c.get("lw", 1.6), ls=c.get("ls", "-"),
                alpha=c.get("alpha", 1.0), color=colours(i % colours.N))
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1.0)
    ax.set_ylim(0.0, 1.005)
    ax.set_xlabel("false accept rate (FPR)")
    ax.set_ylabel("true accept rate (TPR)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, frameon=False)
    fig.tight_layout()
    return png(fig)


def landmark_figure(panels: list[dict]) -> bytes:
    """Images with landmark sets drawn on them.

    Each panel: title, image (HxWx3 uint8), sets: [(label, (5, 2) points)], drawn with distinct markers."""
    markers = [("o", "#00e000"), ("x", "#ff3030"), ("+", "#30a0ff")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        ax.imshow(panel["image"])
        for (label, pts), (marker, colour) in zip(panel["sets"], markers):
            pts = np.asarray(pts, dtype=float)
            hollow = {"facecolors": "none", "edgecolors": colour} if marker == "o" else {"c": colour}
            ax.scatter(pts[:, 0], pts[:, 1], s=28, marker=marker, label=label, linewidths=1.4, **hollow)
        ax.set_title(panel["title"], fontsize=8)
        ax.axis("off")
    axes[0][0].legend(loc="lower left", fontsize=7, framealpha=0.8)
    return png(fig)


def smooth(values: np.ndarray, weight: float = 0.6) -> np.ndarray:
    """Exponential moving average, as TensorBoard's smoothing slider (the seed's curves use 0.6); NaNs skipped."""
    out, last = np.empty(len(values)), None
    for i, v in enumerate(values):
        if np.isfinite(v):
            last = v if last is None else weight * last + (1 - weight) * v
        out[i] = np.nan if last is None else last
    return out


def training_curves_figure(runs: list[dict], weight: float = 0.6) -> bytes:
    """Training loss (top) and accuracy (bottom) against step, smoothed; each run: label, step, loss, accuracy."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.2, 6.4), sharex=True)
    palette = plt.get_cmap("tab10" if len(runs) <= 10 else "tab20")
    for k, r in enumerate(runs):
        colour = palette(k % palette.N)  # explicit: metric losses have no accuracy curve, the colours must still match
        step = np.asarray(r["step"], dtype=float)
        top.plot(step, smooth(np.asarray(r["loss"], dtype=float), weight), label=r["label"], lw=1.4, color=colour)
        acc = np.asarray(r["accuracy"], dtype=float)
        if np.isfinite(acc).any():
            bottom.plot(step, smooth(acc, weight), label=r["label"], lw=1.4, color=colour)
    top.set_ylabel("training loss")
    bottom.set_ylabel("training accuracy (batch)")
    bottom.set_xlabel("step")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    top.legend(fontsize=7, loc="upper right")
    top.set_title(f"smoothed with weight {weight}", fontsize=8)
    return png(fig)


def _grid(n: int, columns: int, width: float = 3.4, height: float = 3.0):
    rows, cols = -(-n // columns), min(columns, n)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes.flat[:n]


def tsne_figure(panels: list[dict], columns: int = 4) -> bytes:
    """One scatter per model; each panel: title, points (n x 2), identity (n,). The same people in every panel."""
    fig, axes = _grid(len(panels), columns, height=3.3)
    names = sorted({str(i) for p in panels for i in p["identity"]})
    colours = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    for ax, p in zip(axes, panels):
        pts, ids = np.asarray(p["points"]), np.asarray(p["identity"]).astype(str)
        for k, name in enumerate(names):
            sel = ids == name
            ax.scatter(pts[sel, 0], pts[sel, 1], s=9, color=colours(k % colours.N), label=name)
        ax.set_title(p["title"], fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    handles, labels = axes[0].get_legend_handles_labels()  # one legend for all panels, below them
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(5, len(labels)), fontsize=7,
               markerscale=1.5, frameon=False)
    return png(fig)


def _share_stairs(ax, counts, bins, **style) -> None:
    """A histogram's counts drawn as shares of its total (populations of different sizes on one axis)."""
    counts = np.asarray(counts, dtype=float)
    ax.stairs(counts / max(counts.sum(), 1), bins, **style)


def distance_histograms_figure(panels: list[dict], columns: int = 4) -> bytes:
    """Intra- vs inter-identity cosine distance histograms, one panel per model: title, bins, intra, inter (counts)."""
    fig, axes = _grid(len(panels), columns)
    for ax, p in zip(axes, panels):
        bins = np.asarray(p["bins"])
        for key, colour in (("intra", "tab:blue"), ("inter", "tab:red")):
            _share_stairs(ax, p[key], bins, fill=True, alpha=0.45, color=colour, label=f"{key}-identity")
        ax.set_title(p["title"], fontsize=8)
        ax.set_xlabel("cosine distance (1 - cos)", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    fig.tight_layout()  # wrapped panel titles would run into the x labels of the row above
    return png(fig)


def cpd_figure(panels: list[dict], columns: int = 3) -> bytes:
    """Per model: the distribution of each face's HR-to-degraded cosine gap before and after each registration."""
    fig, axes = _grid(len(panels), columns, width=4.2, height=3.3)
    styles = {"before": ("black", "before"), "affine": ("tab:orange", "affine CPD"),
              "linear-map": ("tab:green", "linear map (supervised)")}
    for ax, p in zip(axes, panels):
        bins = np.asarray(p["bins"])
        for key, (colour, label) in styles.items():
            _share_stairs(ax, p[key], bins, color=colour, lw=1.4, label=label)
        used = np.flatnonzero(np.sum([np.asarray(p[k]) for k in styles], axis=0))  # zoom on the occupied bins
        ax.set_xlim(0, float(bins[min(used[-1] + 2, len(bins) - 1)]) if len(used) else 2.0)
        ax.set_title(textwrap.fill(p["title"], 45), fontsize=7)  # long model labels would run into the next panel
        ax.set_xlabel("cosine distance, HR vs degraded, same face", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    fig.tight_layout()  # wrapped panel titles would run into the x labels of the row above
    return png(fig)


def kernels_figure(panels: list[dict], per_model: int = 32) -> bytes:
    """The first ``per_model`` first-conv kernels of each model as small RGB tiles (each tile min-max scaled); one
    row of tiles per model. Each panel: title, weights (out x in x kh x kw)."""
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 0.9 + 0.55 * len(panels) * 2), squeeze=False)
    for ax, p in zip(axes.flat, panels):
        w = np.asarray(p["weights"], dtype=float)[:per_model]
        if w.shape[1] not in (1, 3):
            w = w.mean(axis=1, keepdims=True)
        tiles = []
        for k in w:
            k = (k - k.min()) / (k.max() - k.min() + 1e-12)
            tile = np.transpose(k, (1, 2, 0)) if k.shape[0] == 3 else np.repeat(k.transpose(1, 2, 0), 3, axis=2)
            tiles.append(np.pad(tile, ((1, 1), (1, 1), (0, 0)), constant_values=1.0))
        ax.imshow(np.concatenate(tiles, axis=1), interpolation="nearest")
        ax.set_title(p["title"], fontsize=8, loc="left")
        ax.axis("off")
    return png(fig)


def sphere_figure(panels: list[dict], columns: int = 3) -> bytes:
    """3-d embeddings on the unit sphere, coloured by identity; each panel: title, points (n x 3), identity (n,)."""
    rows, cols = -(-len(panels) // columns), min(columns, len(panels))
    fig = plt.figure(figsize=(3.8 * cols, 3.6 * rows))
    names = sorted({str(i) for p in panels for i in p["identity"]})
    colours = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    u, v = np.mgrid[0:2 * np.pi:24j, 0:np.pi:12j]
    for n, p in enumerate(panels):
        ax = fig.add_subplot(rows, cols, n + 1, projection="3d")
        ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85", lw=0.4)
        pts = np.asarray(p["points"], dtype=float)
        pts = pts / (np.linalg.norm(pts, axis=1, keepdims=True) + 1e-12)
        ids = np.asarray(p["identity"]).astype(str)
        for k, name in enumerate(names):
            sel = ids == name
            ax.scatter(pts[sel, 0], pts[sel, 1], pts[sel, 2], s=8, color=colours(k % colours.N))
        ax.set_title(p["title"], fontsize=8)
        ax.set_axis_off()
    return png(fig)


def validation_figure(runs: list[dict]) -> bytes:
    """Validation accuracy and AUC after every epoch; each run: label, epoch, val_accuracy, val_auc."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    palette = plt.get_cmap("tab10" if len(runs) <= 10 else "tab20")
    for k, r in enumerate(runs):
        colour = palette(k % palette.N)
        left.plot(r["epoch"], r["val_accuracy"], marker="o", ms=3, lw=1.3, color=colour, label=r["label"])
        right.plot(r["epoch"], r["val_auc"], marker="o", ms=3, lw=1.3, color=colour, label=r["label"])
    left.set_ylabel("validation accuracy (k-fold)")
    right.set_ylabel("validation AUC")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    right.legend(fontsize=7, loc="lower right")
    return png(fig)

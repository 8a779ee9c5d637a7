"""Figures for the report, returned as PNG bytes (embedded in the page, so it opens offline).

One style for the whole report: ``THEME`` (seaborn's ``set_theme`` arguments), applied to every figure of this module
by ``styled`` inside a matplotlib rc context, so drawing a figure never changes the caller's global style. The
statistical figures are drawn with seaborn: ROC, DET and CMC line plots, the intra/inter distance histograms with their
KDEs, the t-SNE scatter and the benchmark heatmap.

DET axes: FMR (x) against FNMR (y), each on the normal-deviate (probit) scale, i.e. a rate r is drawn at
scipy.stats.norm.ppf(r) and the ticks are labelled with the rates (``det_coordinates``, ``det_ticks``).
"""
from __future__ import annotations

import base64
import functools
import io
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

THEME = {"context": "paper", "style": "whitegrid", "palette": "tab10", "font_scale": 1.0,
         "rc": {"grid.alpha": 0.35, "axes.titlesize": 8, "legend.fontsize": 7, "savefig.dpi": 110}}
DET_TICKS = (1e-5, 1e-4, 1e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.4, 0.6, 0.8)


@functools.cache
def _theme_rc() -> dict:
    """The rcParams that ``sns.set_theme(**THEME)`` sets, computed once without leaving them set."""
    keep = {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}
    with matplotlib.rc_context():
        sns.set_theme(**THEME)
        themed = {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}
    return {k: v for k, v in themed.items() if keep.get(k) != v}


def styled(fn):
    """Draw ``fn``'s figure in the report's one style (``THEME``), leaving the global matplotlib style as it was."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(_theme_rc()):
            return fn(*args, **kwargs)
    return wrapper


def palette(n: int) -> list:
    """``n`` colours, distinct up to 20 (tab10, then tab20)."""
    return sns.color_palette("tab10" if n <= 10 else "tab20", max(n, 1))


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def b64(data: bytes) -> str:
    """PNG bytes as the base64 text of a data: URL (every image is embedded, so the page opens offline)."""
    return base64.b64encode(data).decode("ascii")


@styled
def roc_figure(curves: list[dict]) -> bytes:
    """ROC curves (TPR against FPR on a log axis). Each curve: label, fpr, tpr, and optional style hints."""
    fig, ax = plt.subplots(figsize=(9.6, 4.6))  # room on the right for the legend, which must not hide curves
    colours = palette(len(curves))  # no two curves share a colour up to 20
    for i, c in enumerate(curves):
        fpr = np.asarray(c["fpr"], dtype=float)
        tpr = np.asarray(c["tpr"], dtype=float)
        keep = fpr > 0
        # estimator=None, sort=False: every ROC point as given (a vertical step has two tprs at one fpr)
        sns.lineplot(x=fpr[keep], y=tpr[keep], ax=ax, estimator=None, sort=False, drawstyle="steps-post",
                     label=c["label"], lw=c.get("lw", 1.6), ls=c.get("ls", "-"), alpha=c.get("alpha", 1.0),
                     color=colours[i % len(colours)])
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1.0)
    ax.set_ylim(0.0, 1.005)
    ax.set_xlabel("false accept rate (FPR)")
    ax.set_ylabel("true accept rate (TPR)")
    ax.grid(True, which="both")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, frameon=False)
    fig.tight_layout()
    return png(fig)


def det_coordinates(curve: dict) -> tuple[np.ndarray, np.ndarray]:
    """A DET curve's plotted points: (normal deviate of FMR, normal deviate of FNMR). From ``probit_fmr`` /
    ``probit_fnmr`` when the curve has them (the verify rule's ROC file: det_probit_fmr, det_probit_fnmr, already
    clipped), else from ``fmr`` / ``fnmr`` (clipped into [c, 1 - c] with ``clip`` = (c_fmr, c_fnmr) when given)."""
    if "probit_fmr" in curve:
        return np.asarray(curve["probit_fmr"], dtype=float), np.asarray(curve["probit_fnmr"], dtype=float)
    from scipy.special import ndtri  # scipy.stats.norm.ppf's kernel

    fmr, fnmr = np.asarray(curve["fmr"], dtype=float), np.asarray(curve["fnmr"], dtype=float)
    if curve.get("clip") is not None:
        c_fmr, c_fnmr = curve["clip"]
        fmr, fnmr = np.clip(fmr, c_fmr, 1 - c_fmr), np.clip(fnmr, c_fnmr, 1 - c_fnmr)
    return ndtri(fmr), ndtri(fnmr)


def det_ticks(low: float, high: float) -> tuple[np.ndarray, list[str]]:
    """Tick positions (normal deviates) and labels (the rates, in %) of DET_TICKS between two deviates."""
    from scipy.special import ndtri

    rates = np.array([r for r in DET_TICKS if low <= ndtri(r) <= high])
    return ndtri(rates), [f"{100 * r:g}" for r in rates]


@styled
def det_figure(curves: list[dict]) -> bytes:
    """DET curves: FNMR against FMR, both on normal-deviate axes (``det_coordinates``); each curve: label and
    probit_fmr/probit_fnmr (or fmr/fnmr). The dotted diagonal is FMR = FNMR (where it crosses a curve: the EER)."""
    if not curves:
        raise ValueError("det_figure: no DET curve to draw")
    from scipy.special import ndtri

    fig, ax = plt.subplots(figsize=(9.6, 4.6))
    colours = palette(len(curves))
    points = [det_coordinates(c) for c in curves]
    finite = np.concatenate([v[np.isfinite(v)] for xy in points for v in xy] or [np.zeros(1)])
    low = min(float(finite.min()) if finite.size else ndtri(1e-3), ndtri(1e-2)) - 0.15
    high = ndtri(0.6)
    for i, (c, (x, y)) in enumerate(zip(curves, points)):
        sns.lineplot(x=x, y=y, ax=ax, estimator=None, sort=False, label=c["label"], lw=c.get("lw", 1.6),
                     ls=c.get("ls", "-"), color=colours[i % len(colours)])
    ax.plot([low, high], [low, high], ls=":", lw=0.9, color="0.5")
    ticks, labels = det_ticks(low, high)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_ticks(ticks, labels)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_xlabel("false match rate, FMR (%), normal-deviate scale")
    ax.set_ylabel("false non-match rate, FNMR (%), normal-deviate scale")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, frameon=False)
    fig.tight_layout()
    return png(fig)


@styled
def cmc_figure(curves: list[dict]) -> bytes:
    """CMC curves: identification rate at ranks 1..k; each curve: label, cmc (rates, rank 1 first)."""
    if not curves:
        raise ValueError("cmc_figure: no CMC curve to draw (no rank file with a cmc)")
    empty = [c["label"] for c in curves if not len(c["cmc"])]
    if empty:
        raise ValueError(f"cmc_figure: empty CMC for {empty}")
    fig, ax = plt.subplots(figsize=(9.6, 4.0))
    colours = palette(len(curves))
    for i, c in enumerate(curves):
        rates = np.asarray(c["cmc"], dtype=float)
        sns.lineplot(x=np.arange(1, len(rates) + 1), y=rates, ax=ax, marker="o", markersize=3.5, lw=1.4,
                     label=c["label"], color=colours[i % len(colours)])
    ranks = max(len(c["cmc"]) for c in curves)
    ax.set_xlim(0.5, ranks + 0.5)
    ax.set_xticks([r for r in (1, 2, 5, 10, 15, 20, 30, 50) if r <= ranks])
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate (closed set)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, frameon=False)
    fig.tight_layout()
    return png(fig)


@styled
def accuracy_limits(data: pd.DataFrame) -> tuple[float, float]:
    """The colour scale of accuracies: the lowest value up to 1 (left to itself, one cell's scale spans 0.90-1.05)."""
    lo = float(np.nanmin(data.to_numpy()))
    return (lo if lo < 1.0 else 0.95), 1.0


def benchmark_heatmap(df: pd.DataFrame) -> bytes:
    """The benchmark table as a heatmap: rows models, columns verification sets, values accuracy (each cell
    annotated; a set a model was not run on stays blank)."""
    if df.empty:
        raise ValueError("benchmark_heatmap: an empty table")
    data = df.astype(float)
    fig, ax = plt.subplots(figsize=(1.6 + 1.25 * data.shape[1], 0.9 + 0.42 * data.shape[0]))
    vmin, vmax = accuracy_limits(data)
    sns.heatmap(data, ax=ax, annot=True, fmt=".4f", cmap="viridis", linewidths=0.5, annot_kws={"fontsize": 7},
                vmin=vmin, vmax=vmax, cbar_kws={"label": "accuracy"})
    ax.set_xlabel("verification set")
    ax.set_ylabel("model")
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return png(fig)


@styled
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


@styled
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


@styled
def tsne_figure(panels: list[dict], columns: int = 4) -> bytes:
    """One scatter per model; each panel: title, points (n x 2), identity (n,). The same people in every panel."""
    fig, axes = _grid(len(panels), columns, height=3.3)
    names = sorted({str(i) for p in panels for i in p["identity"]})
    colours = dict(zip(names, palette(len(names))))  # one colour per person, the same in every panel
    for k, (ax, p) in enumerate(zip(axes, panels)):
        pts, ids = np.asarray(p["points"]), np.asarray(p["identity"]).astype(str)
        sns.scatterplot(x=pts[:, 0], y=pts[:, 1], hue=ids, hue_order=names, palette=colours, s=12, linewidth=0,
                        ax=ax, legend=k == 0)
        ax.set_title(p["title"], fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    handles, labels = axes[0].get_legend_handles_labels()  # one legend for all panels, below them
    if axes[0].get_legend() is not None:
        axes[0].get_legend().remove()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(5, len(labels)), fontsize=7,
               markerscale=1.5, frameon=False)
    return png(fig)


def _share_stairs(ax, counts, bins, **style) -> None:
    """A histogram's counts drawn as shares of its total (populations of different sizes on one axis)."""
    counts = np.asarray(counts, dtype=float)
    ax.stairs(counts / max(counts.sum(), 1), bins, **style)


@styled
def distance_histograms_figure(panels: list[dict], columns: int = 4) -> bytes:
    """Intra- vs inter-identity cosine distance histograms with their KDEs, one panel per model: title, bins, intra,
    inter (counts per bin). Each population is drawn as shares of its own total (stat="probability", not common_norm),
    the KDE weighted by the counts at the bin centres."""
    fig, axes = _grid(len(panels), columns)
    colours = {"intra-identity": "tab:blue", "inter-identity": "tab:red"}
    for k, (ax, p) in enumerate(zip(axes, panels)):
        bins = np.asarray(p["bins"], dtype=float)
        centres = (bins[:-1] + bins[1:]) / 2
        long = pd.DataFrame({"distance": np.tile(centres, 2),
                             "count": np.concatenate([np.asarray(p["intra"], float), np.asarray(p["inter"], float)]),
                             "pairs": np.repeat(list(colours), len(centres))})
        long = long[long["count"] > 0]
        sns.histplot(long, x="distance", weights="count", hue="pairs", hue_order=list(colours), palette=colours,
                     bins=bins.tolist(), stat="probability", common_norm=False, element="step", alpha=0.4,
                     kde=len(long) > 1, kde_kws={"bw_adjust": 1.0}, ax=ax, legend=k == 0)
        ax.set_title(p["title"], fontsize=8)
        ax.set_xlabel("cosine distance (1 - cos)", fontsize=7)
        ax.set_ylabel("share of pairs", fontsize=7)
        ax.tick_params(labelsize=7)
    fig.tight_layout()  # wrapped panel titles would run into the x labels of the row above
    return png(fig)


@styled
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


@styled
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


@styled
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


@styled
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

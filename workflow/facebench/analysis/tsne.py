"""t-SNE of the embeddings of a few training identities, the same identities for every model of a dataset.

As the seed report does (10 CASIA identities, four models side by side): the identities are drawn with the config
seed from the training list alone, so every model trained on that list shows the same people.
"""
from __future__ import annotations

import json

import numpy as np

from facebench.embed import eager_features
from facebench.io import save_npz
from facebench.models.checkpoint import load_model
from facebench.train.loop import load_training_set


def pick_identities(labels: np.ndarray, n: int, min_images: int, seed: int) -> np.ndarray:
    """``n`` class indices drawn with ``seed`` among those with >= ``min_images`` faces (the best-filled if too few)."""
    counts = np.bincount(labels)
    eligible = np.flatnonzero(counts >= min_images)
    if len(eligible) < n:
        eligible = np.argsort(-counts, kind="stable")[:n]
    return np.sort(np.random.default_rng(seed).choice(eligible, size=min(n, len(eligible)), replace=False))


def embed_faces(model, spec: dict, faces: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """L2-normalised features of the faces at ``rows`` (CPU, eager)."""
    f = eager_features(model, faces, rows, spec)
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def pick_faces(labels: np.ndarray, *, n_identities: int, max_per_identity: int, min_images: int,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The chosen class indices and, for each, up to ``max_per_identity`` of its faces (indices into ``labels``)."""
    chosen = pick_identities(labels, n_identities, min_images, seed)
    rng = np.random.default_rng(seed)
    idx = np.concatenate([np.sort(rng.permutation(np.flatnonzero(labels == c))[:max_per_identity]) for c in chosen])
    return chosen, idx


def layout(feats: np.ndarray, *, seed: int) -> tuple[np.ndarray, float]:
    """The 2-d t-SNE points of ``feats`` and the perplexity used."""
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (len(feats) - 1) / 3))  # sklearn needs perplexity < n; 30 is its default
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(feats), perplexity


def tsne_identities(model_path, store_dir, train_list, out, *, n_identities: int = 10, max_per_identity: int = 40,
                    min_images: int = 5, seed: int = 0) -> dict:
    data = load_training_set(store_dir, train_list)
    chosen, idx = pick_faces(data.labels, n_identities=n_identities, max_per_identity=max_per_identity,
                             min_images=min_images, seed=seed)
    model, info = load_model(model_path)
    feats = embed_faces(model, info["input"], data.faces, data.rows[idx])
    points, perplexity = layout(feats, seed=seed)
    names = np.array([data.identities[c] for c in data.labels[idx]])
    meta = {"model": str(model_path), "identities": [data.identities[c] for c in chosen], "faces": int(len(idx)),
            "perplexity": perplexity, "seed": seed, "metric": "euclidean on L2-normalised embeddings"}
    # a 3-d embedding is drawn as it is, on the unit sphere (the resolution seed's "do they fill the sphere?")
    sphere = {"sphere": feats.astype(np.float32)} if feats.shape[1] == 3 else {}
    meta["embedding_size"] = int(feats.shape[1])
    save_npz(out, points=points.astype(np.float32), identity=names, meta=np.array(json.dumps(meta)), **sphere)
    return meta

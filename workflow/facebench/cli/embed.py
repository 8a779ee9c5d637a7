"""``facebench`` commands for embeddings of a store's faces by one model."""
from __future__ import annotations

import json

from facebench import schema
from facebench.cli.common import read_lines


def cmd_embed(a):
    from facebench import runtime
    from facebench.embed import embed_store

    runtime.keep_freed_memory()
    runtime.set_threads(a.threads)
    meta = embed_store(a.model, a.store, a.out, batch_size=a.batch_size, gpu_batch_size=a.gpu_batch_size,
                       device=runtime.pick_device(a.device), images=read_lines(a.images) if a.images else None)
    print(json.dumps(meta))


def register(add) -> None:
    sp = add("embed", cmd_embed, "features (and flipped features) for every face of a store")
    sp.add_argument("--model", required=True)
    sp.add_argument("--store", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--batch-size", type=int, default=schema.default("embed.batch_size"), help="faces per pass on CPU")
    sp.add_argument("--gpu-batch-size", type=int, default=schema.default("embed.gpu_batch_size"),
                    help="faces per pass on a GPU")
    sp.add_argument("--threads", type=int)
    sp.add_argument("--device", default=schema.default("embed.device"))
    sp.add_argument("--images", help="embed only these images of the store (one path per line)")

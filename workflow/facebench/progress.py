"""Progress bars that also work in log files: live on a terminal, a line every 10 s when piped to a log."""
from __future__ import annotations

import sys


def bar(total: int | None, desc: str, unit: str = "img", disable: bool = False, **kwargs):
    from tqdm import tqdm

    live = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, mininterval=0.5 if live else 10.0,
                ascii=not live, dynamic_ncols=live, file=sys.stderr, **kwargs)

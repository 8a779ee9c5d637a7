"""``facebench <command>``: the entry point of every Snakemake rule and of users' own runs.

Each stage's commands live beside their registration in one module of this package; each command imports only what
it needs, so ``facebench eval-pairs`` starts in a fraction of a second. Pipeline defaults come from the config schema
(``facebench.schema``), so a command run by hand and the workflow agree. Errors the user can fix (bad input, bad
config) print one line naming the file, line or key and exit with 2.
"""
from __future__ import annotations

import argparse
import sys

from facebench.cli import align, analysis, data, embed, evaluate, landmarks, models, report, train

STAGES = (data, landmarks, align, models, train, embed, evaluate, analysis, report)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facebench", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, fn, help_):
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(fn=fn)
        return sp

    for stage in STAGES:
        stage.register(add)
    return p


USER_ERRORS = (ValueError, KeyError, FileNotFoundError, PermissionError)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.fn(args)
    except USER_ERRORS as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"facebench {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        if not hasattr(err, "exit_code"):  # only the run-stopping conditions that carry their own message
            raise
        print(f"facebench {args.command}: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())

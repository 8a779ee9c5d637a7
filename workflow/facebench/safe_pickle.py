"""Reading a pickle's structure without running it: every class or function it names becomes an inert placeholder.

A pickle can name any callable and have it called while loading; that is how a checkpoint carries code. Here
``find_class`` never imports anything: plain containers (dict, OrderedDict, list, tuple, set) are rebuilt as
themselves, everything else as a ``Placeholder`` that records the name it stood for and the arguments it was given.
Strings, numbers and bytes come through as they are. What it is for: looking inside a file without torch (the
keys of a torch checkpoint, from Snakemake's own process) and reading data files that are pickles of plain values.
Written here because the standard library offers no such mode and torch's weights-only loader needs torch.
"""
from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path

_CONTAINERS = {("collections", "OrderedDict"): collections.OrderedDict, ("builtins", "dict"): dict,
               ("builtins", "list"): list, ("builtins", "tuple"): tuple, ("builtins", "set"): set,
               ("builtins", "frozenset"): frozenset}


class Placeholder:
    """What a pickled object of any other class loads as: its class's name, the arguments and the state given."""

    qualname = "?"

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs, self.state = args, kwargs, None

    def __setstate__(self, state):
        self.state = state

    def __repr__(self) -> str:
        return f"<{self.qualname}>"


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _CONTAINERS:
            return _CONTAINERS[(module, name)]
        return type(name, (Placeholder,), {"qualname": f"{module}.{name}"})

    def persistent_load(self, pid):  # torch's tensor storages: a reference to another member of the archive
        return Placeholder(pid)


def loads(data: bytes):
    """The object a pickle describes, with placeholders for every class (see the module's doc)."""
    return _Unpickler(io.BytesIO(data)).load()


def torch_file_object(path: str | Path):
    """The top-level object of a torch file saved in its zip format (what ``torch.save`` writes), tensors as
    placeholders; None for a file of the legacy format, which this does not read. Raises ValueError for a file that
    is neither."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            if fh.read(2)[:1] == b"\x80":  # a pickle's PROTO opcode: the legacy torch format
                return None
        raise ValueError(f"{path}: not a torch file (neither its zip format nor the legacy pickle)")
    with zipfile.ZipFile(path) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise ValueError(f"{path}: a zip file without the one data.pkl a torch file has")
        try:
            return loads(z.read(pkl[0]))
        except Exception as err:  # any malformed pickle: the file is not usable, whatever the opcode that failed
            raise ValueError(f"{path}: its data.pkl cannot be read ({type(err).__name__}: {err})") from err

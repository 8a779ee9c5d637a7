"""Reading a pickle without running it: one restricted unpickler, with a policy per use saying what each global
the pickle names stands for.

A pickle can name any callable and have it called while loading; that is how a checkpoint carries code, and how a
downloaded data file could. The unpickler here never imports anything: every global the pickle names (``find_class``)
and every persistent id is handed to its ``Policy``, which returns an inert stand-in or raises. Strings, numbers,
bytes, lists, tuples and dicts need no global and come through as they are. Two policies:

- ``Placeholders`` (the default; looking inside a file without torch, e.g. the keys of a torch checkpoint from
  Snakemake's own process): plain containers (dict, OrderedDict, list, tuple, set) are rebuilt as themselves,
  everything else as a ``Placeholder`` that records the name it stood for and the arguments it was given.
- ``PlainValues`` (data files that are pickles of plain values, such as an insightface ``.bin``): besides what needs
  no global, only numpy arrays and scalars (as ``PendingArray`` / ``NumpyScalar``: their dtype and raw bytes, never
  built by numpy's reconstructors; the reader decides which dtypes it takes) and the helpers by which Python 3 writes
  bytes and bytearrays in the older protocols (``_codecs.encode``, ``bytearray``), each checking its arguments; any
  other global or a persistent id is refused with the error its caller makes (naming the file).

Written here because the standard library offers no such mode and torch's weights-only loader needs torch. This
module imports neither numpy nor torch: Snakemake's process imports it.
"""
from __future__ import annotations

import collections
import io
import pickle
import zipfile
from collections.abc import Callable
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


class Policy:
    """What a restricted unpickler makes of the globals and persistent ids a pickle names."""

    def find_class(self, module: str, name: str):
        raise NotImplementedError

    def persistent_load(self, pid):
        raise NotImplementedError


class Placeholders(Policy):
    """Containers as themselves, every other global as a ``Placeholder`` subclass named after it; persistent ids
    (torch's tensor storages: references to other members of the archive) as placeholders too."""

    def find_class(self, module: str, name: str):
        if (module, name) in _CONTAINERS:
            return _CONTAINERS[(module, name)]
        return type(name, (Placeholder,), {"qualname": f"{module}.{name}"})

    def persistent_load(self, pid):
        return Placeholder(pid)


# -- PlainValues: inert stand-ins for what numpy and Python 3 pickle plain values with

class Dtype:
    """numpy.dtype(name, align, copy) as pickled: its name (str or bytes) and state, nothing else."""

    def __init__(self, name, *args):
        self.name, self.state = name, None

    def __setstate__(self, state):
        self.state = state

    def text(self) -> str:
        return self.name.decode("latin1") if isinstance(self.name, bytes) else str(self.name)


def dtype_name(d) -> str | None:
    """The name of a pickled dtype stand-in (``b1``, ``?``, ``i8``...), None for anything else."""
    return d.text() if isinstance(d, Dtype) else None


class PendingArray:
    """A numpy array as pickled: ``_reconstruct(ndarray, (0,), b'b')`` filled by the BUILD opcode's state
    ``(version, shape, dtype, is_fortran, raw bytes)``, or protocol 5's ``_frombuffer(buf, dtype, shape, order)``.
    Only its parts are kept; the reader turns the raw bytes into an array of a dtype it accepts."""

    def __init__(self, shape=None, dtype=None, raw=None, fortran=False):
        self.shape, self.dtype, self.raw, self.fortran = shape, dtype, raw, fortran

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError(f"an ndarray state that is not (version, shape, dtype, fortran, data): "
                                         f"{type(state).__name__}")
        self.shape, self.dtype, self.fortran, self.raw = state[-4:]


class _NDArray:
    """Stands for ``numpy.ndarray`` (the class argument of ``_reconstruct``); never instantiated."""


class NumpyScalar:
    """A numpy scalar as pickled (``multiarray.scalar(dtype, raw)``): its dtype stand-in and raw bytes."""

    def __init__(self, dtype, raw=b""):
        self.dtype, self.raw = dtype, raw


def _reconstruct(cls, shape, typecode):
    if cls is not _NDArray:
        raise pickle.UnpicklingError(f"_reconstruct of {cls!r}, not numpy.ndarray")
    return PendingArray()


def _frombuffer(buf, dtype, shape, order):
    return PendingArray(tuple(shape), dtype, buf, order == "F")


def _is_latin1(encoding) -> bool:
    return str(encoding).replace("-", "").lower() == "latin1"


def _latin1(text, encoding="latin1"):  # _codecs.encode: how protocols 0-2 of Python 3 write a bytes object
    if not isinstance(text, str) or not _is_latin1(encoding):
        raise pickle.UnpicklingError("_codecs.encode other than (str, 'latin1')")
    return text.encode("latin1")


def _bytearray(data=b"", encoding=None):  # builtins.bytearray: how protocols 0-4 write a bytearray
    if isinstance(data, str) and _is_latin1(encoding):
        return bytearray(data.encode("latin1"))
    if not isinstance(data, (bytes, bytearray)) or encoding is not None:
        raise pickle.UnpicklingError("bytearray other than of bytes or (str, 'latin-1')")  # bytearray(n) allocates n
    return bytearray(data)


_NUMPY = ("numpy.core.multiarray", "numpy._core.multiarray")
_PLAIN = {**{(m, "_reconstruct"): _reconstruct for m in _NUMPY}, **{(m, "scalar"): NumpyScalar for m in _NUMPY},
          **{(m, "_frombuffer"): _frombuffer for m in ("numpy.core.numeric", "numpy._core.numeric")},
          ("numpy", "ndarray"): _NDArray, ("numpy", "dtype"): Dtype, ("_codecs", "encode"): _latin1,
          ("builtins", "bytearray"): _bytearray, ("__builtin__", "bytearray"): _bytearray}


class PlainValues(Policy):
    """Plain values only (see the module's doc); ``refuse(what)`` makes the error for anything else, ``what`` being
    e.g. ``global os.system`` or ``a persistent id``."""

    def __init__(self, refuse: Callable[[str], Exception]):
        self.refuse = refuse

    def find_class(self, module: str, name: str):
        if (module, name) in _PLAIN:
            return _PLAIN[(module, name)]
        raise self.refuse(f"global {module}.{name}")

    def persistent_load(self, pid):
        raise self.refuse("a persistent id")


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose globals and persistent ids are all decided by ``policy``; it imports nothing."""

    def __init__(self, fh, policy: Policy, *, encoding: str = "ASCII"):
        super().__init__(fh, encoding=encoding)
        self.policy = policy

    def find_class(self, module: str, name: str):
        return self.policy.find_class(module, name)

    def persistent_load(self, pid):
        return self.policy.persistent_load(pid)


def load(fh, policy: Policy, *, encoding: str = "ASCII"):
    """The object the pickle in the binary file ``fh`` describes, under ``policy``. ``encoding="bytes"`` reads the
    ``str`` of a Python 2 pickle as bytes."""
    return RestrictedUnpickler(fh, policy, encoding=encoding).load()


def loads(data: bytes, policy: Policy | None = None, *, encoding: str = "ASCII"):
    """The object a pickle describes, under ``policy`` (default: placeholders for every class)."""
    return load(io.BytesIO(data), policy or Placeholders(), encoding=encoding)


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

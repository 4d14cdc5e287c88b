"""Reading a detectron2 ``.pkl`` checkpoint without letting it run code.

A pickle is a program: its GLOBAL/STACK_GLOBAL opcodes import any callable and REDUCE calls it,
so ``pickle.load`` on a downloaded file can run anything. detectron2's model-zoo files are a dict
of numpy arrays, which needs exactly these callables:

* ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct`` (an empty
  array), ``numpy.ndarray`` (its type), ``numpy.dtype`` (its element type), then the array's
  ``__setstate__`` with the raw bytes;
* ``_codecs.encode`` (protocol 2 stores bytes as a latin-1 string and re-encodes it);
* ``numpy.core.numeric._frombuffer`` / ``numpy._core.numeric._frombuffer`` (protocol 5);
* ``numpy.core.multiarray.scalar`` / ``numpy._core.multiarray.scalar`` (a numpy scalar);
* ``collections.OrderedDict`` (some files keep the state dict ordered).

:class:`RestrictedUnpickler` resolves those names to the objects themselves (never by importing
a module the file names) and refuses every other global before anything is called. Object
arrays are refused as well: their contents would be arbitrary Python objects. Loading uses
``encoding="latin1"`` like detectron2 (files written by Python 2 hold byte strings).
"""

from __future__ import annotations

import _codecs
import collections
import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """The file asks for something a dict of numpy arrays never needs."""


def _allowed() -> dict[tuple[str, str], Any]:
    core = np._core if hasattr(np, "_core") else np.core
    reconstruct = core.multiarray._reconstruct
    frombuffer = core.numeric._frombuffer
    scalar = core.multiarray.scalar
    allowed = {("_codecs", "encode"): _codecs.encode, ("collections", "OrderedDict"): collections.OrderedDict,
               ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): _safe_dtype}
    for mod in ("numpy.core", "numpy._core"):
        allowed[(f"{mod}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{mod}.numeric", "_frombuffer")] = frombuffer
        allowed[(f"{mod}.multiarray", "scalar")] = scalar
    return allowed


def _safe_dtype(*args: Any, **kwargs: Any) -> np.dtype:
    """``numpy.dtype`` for plain numbers only: object and structured dtypes would carry Python
    objects (or field names that may hide them)."""
    dt = np.dtype(*args, **kwargs)
    if dt.hasobject or dt.kind not in "biufc?":
        raise UnsafePickleError(f"refused: arrays of dtype {dt} (only plain numeric arrays are loaded)")
    return dt


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` knows only what numpy arrays need (module docstring)."""

    _ALLOWED: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if RestrictedUnpickler._ALLOWED is None:
            RestrictedUnpickler._ALLOWED = _allowed()
        try:
            return RestrictedUnpickler._ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused: the file asks for {module}.{name}, which a checkpoint of numpy arrays never needs "
                "(the file may try to run code); nothing from it was executed"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refused: persistent references (not a plain pickle of arrays)")


def safe_load_pickle(data: bytes) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (latin-1 strings, like detectron2)."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def load_detectron2_pkl(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(name -> numpy array, other top-level entries) from a detectron2 ``.pkl`` checkpoint.

    Accepts the model-zoo layout ``{"model": {...}, "__author__": ...}`` and a bare dict of
    arrays. Raises :class:`UnsafePickleError` for anything a dict of arrays does not need,
    ValueError for a file that is not such a dict (object arrays, non-array values, Detectron1
    "blobs" files), OSError when unreadable.
    """
    p = Path(path)
    data = p.read_bytes()
    try:
        obj = safe_load_pickle(data)
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            UnicodeDecodeError, MemoryError) as exc:
        raise ValueError(f"not a readable pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"expected a dict of arrays, found {type(obj).__name__}")
    if "blobs" in obj and "model" not in obj:
        raise ValueError("this is a Detectron1 / Caffe2 'blobs' file; only detectron2 checkpoints are converted")
    meta = {k: v for k, v in obj.items() if k != "model"} if isinstance(obj.get("model"), dict) else {}
    weights = obj["model"] if isinstance(obj.get("model"), dict) else obj
    out: dict[str, np.ndarray] = {}
    for key, value in weights.items():
        if not isinstance(key, str):
            raise ValueError(f"key {key!r} is not a string")
        if isinstance(value, np.generic):
            value = np.asarray(value)
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{key}: expected a numpy array, found {type(value).__name__}")
        if value.dtype.hasobject:
            raise ValueError(f"{key}: object arrays are refused (they hold Python objects, not numbers)")
        out[key] = value
    if not out:
        raise ValueError("the file holds no arrays")
    return out, {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool))}

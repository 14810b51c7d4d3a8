"""Read ``.npy`` files without running code: object arrays are unpickled with an allow-list.

Upstream methods store dicts with ``np.save`` (PSA/SEAM/EPS ``cls_labels.npy`` and CAM files,
IRN/CDA/RIB ``step/make_cam.py`` CAM files, EPS/DRS label tables): a 0-d object array whose payload is
a pickle. ``np.load(allow_pickle=True)`` would run whatever that pickle names (``os.system``, any
``__reduce__``). :func:`load_npy` parses the ``.npy`` header itself (``numpy.lib.format``); plain
arrays load with ``allow_pickle=False``; object arrays go through :class:`RestrictedUnpickler`, whose
``find_class`` admits only what numpy arrays, dtypes and scalars, builtin containers and numbers and
torch tensors (IRN stores ``keys``/``cam`` as tensors) need, under both numpy spellings
(``numpy.core`` before numpy 2, ``numpy._core`` since). Anything else is refused with an error naming
the file and the refused global, before it is called.

Torch tensors inside such pickles normally rebuild through ``torch.storage._load_from_bytes``, which
calls ``torch.load(weights_only=False)``; here it is replaced by a ``weights_only=True`` load.
"""
from __future__ import annotations

import functools
import io
import math
import pickle
from pathlib import Path
from typing import Callable, Dict, Tuple, Type

import numpy as np

from .errors import DatasetError, WsssZooError

NPY_MAGIC = b"\x93NUMPY"
_MAX_HEADER = 10000  # numpy.lib.format's own default limit on the header length


class UnsafePickleError(pickle.UnpicklingError):
    """Raised by :class:`RestrictedUnpickler` for a global outside the allow-list."""


def _numpy_modules():
    try:
        from numpy._core import multiarray, numeric  # numpy >= 2 (and the 1.26 forward shim)
    except ImportError:  # pragma: no cover - numpy < 1.26
        from numpy.core import multiarray, numeric
    return multiarray, numeric


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as protocol-2 pickles use it for bytes; only the Latin-1 codec."""
    if encoding.lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1"):
        raise UnsafePickleError(f"refused _codecs.encode with codec {encoding!r}")
    return text.encode("latin1")


def _small_bytes(*args):
    """``bytes()`` as protocol-2 pickles use it for ``b''``; ``bytes(n)`` (n zero bytes) is refused."""
    if args and not isinstance(args[0], (str, bytes, bytearray, list, tuple)):
        raise UnsafePickleError("refused bytes(<size>)")
    return bytes(*args)


def _torch_load_from_bytes(data: bytes):
    """Safe stand-in for ``torch.storage._load_from_bytes`` (a pickled tensor's storage)."""
    import torch

    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _torch_global(name: str):
    import torch._utils

    return getattr(torch._utils, name)


def _allowed_globals() -> Dict[Tuple[str, str], Callable]:
    """``(module, name) -> object`` for every global a numpy/torch data pickle may name."""
    multiarray, numeric = _numpy_modules()
    table: Dict[Tuple[str, str], Callable] = {("numpy", "dtype"): np.dtype}
    for prefix in ("numpy.core", "numpy._core"):
        table[(f"{prefix}.multiarray", "scalar")] = multiarray.scalar
        if hasattr(numeric, "_frombuffer"):  # protocol 5 pickles of arrays
            table[(f"{prefix}.numeric", "_frombuffer")] = numeric._frombuffer
    # numeric scalar types (pickling the type itself); flexible types (void, str_, bytes_) are left out:
    # calling them with a size would allocate that many bytes
    for cls in set(np.sctypeDict.values()):
        if issubclass(cls, (np.number, np.bool_)) and getattr(np, cls.__name__, None) is cls:
            table[("numpy", cls.__name__)] = cls
    dtypes = getattr(np, "dtypes", None)
    for name in dir(dtypes) if dtypes is not None else ():
        if name.endswith("DType"):
            table[("numpy.dtypes", name)] = getattr(dtypes, name)
    for module in ("builtins", "__builtin__"):  # Python 3 / Python 2 pickles
        for cls in (set, frozenset, complex):
            table[(module, cls.__name__)] = cls
        table[(module, "bytes")] = _small_bytes
    table[("_codecs", "encode")] = _latin1_encode
    import collections

    table[("collections", "OrderedDict")] = collections.OrderedDict
    table[("torch.storage", "_load_from_bytes")] = _torch_load_from_bytes
    return table


def _nbytes(shape, dtype) -> int:
    """Bytes an array of ``shape`` and ``dtype`` would take (``ValueError`` for a malformed shape)."""
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    if not all(isinstance(d, int) and d >= 0 for d in dims):
        raise ValueError(f"malformed array shape {shape!r}")
    return math.prod(dims) * np.dtype(dtype).itemsize


class _NdarrayType:
    """What ``numpy.ndarray`` resolves to in a pickle: passed to ``_reconstruct`` it is ``np.ndarray``;
    called directly, it refuses shapes larger than the file (a crafted ``ndarray((10**10,), object)``
    would fill gigabytes before anything else could notice)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes

    def __call__(self, shape, dtype=float, *args, **kwargs):
        _check_size(_nbytes(shape, dtype), self.max_bytes)
        return np.ndarray(shape, dtype, *args, **kwargs)


def _check_size(nbytes: int, max_bytes: int) -> None:
    if nbytes > max_bytes:
        raise ValueError(f"an array in it claims {nbytes} bytes, more than the file's {max_bytes}")


def _reconstruct(max_bytes: int, subtype, shape, dtype):
    """``numpy.core.multiarray._reconstruct`` with the size check of :class:`_NdarrayType`."""
    if not isinstance(subtype, _NdarrayType):
        raise UnsafePickleError(f"_reconstruct of {subtype!r}")
    _check_size(_nbytes(shape, dtype), max_bytes)
    return _numpy_modules()[0]._reconstruct(np.ndarray, shape, dtype)


_ALLOWED: Dict[Tuple[str, str], Callable] = {}
_TORCH_NAMES = ("_rebuild_tensor_v2", "_rebuild_parameter")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that only resolves the globals of :func:`_allowed_globals` (and torch's tensor
    rebuild functions); anything else raises :class:`UnsafePickleError` before it could run.
    Arrays may not claim more than ``max_bytes`` (the file's size: pickled data lives in the file)."""

    def __init__(self, file, *, max_bytes: int):
        super().__init__(file, encoding="latin1")  # numpy's advice for Python 2 pickles of arrays
        self.max_bytes = max_bytes
        self._ndarray = _NdarrayType(max_bytes)

    def find_class(self, module: str, name: str):
        if not _ALLOWED:
            _ALLOWED.update(_allowed_globals())
        if (module, name) == ("numpy", "ndarray"):
            return self._ndarray
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return functools.partial(_reconstruct, self.max_bytes)
        found = _ALLOWED.get((module, name))
        if found is not None:
            return found
        if module == "torch._utils" and name in _TORCH_NAMES:
            return _torch_global(name)
        raise UnsafePickleError(f"{module}.{name}")


def _held_bytes(obj, budget: int) -> int:
    """Bytes the arrays and tensors in ``obj`` (and its containers) span, stopping once past ``budget``.

    Catches tensors rebuilt as huge views of a small storage (stride 0), which cost nothing until the
    caller touches them.
    """
    total, seen, stack = 0, set(), [obj]
    while stack and total <= budget:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, np.ndarray):
            total += item.nbytes
            if item.dtype.hasobject:
                stack.extend(item.reshape(-1).tolist())
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif hasattr(item, "untyped_storage") and hasattr(item, "element_size"):  # torch tensor
            total += item.numel() * item.element_size()
    return total


def restricted_load(f, size: int):
    """Unpickle the rest of the binary file ``f`` (``size`` bytes long) with :class:`RestrictedUnpickler`.

    Raises :class:`UnsafePickleError` for a refused global and ``ValueError`` for arrays or tensors
    that claim more data than the file holds.
    """
    obj = RestrictedUnpickler(f, max_bytes=size).load()
    _check_size(_held_bytes(obj, size), size)
    return obj


def restricted_loads(data: bytes):
    """Unpickle ``data`` with :class:`RestrictedUnpickler` and the size checks of :func:`restricted_load`."""
    return restricted_load(io.BytesIO(data), len(data))


def _read_header(f, version) -> Tuple[tuple, bool, np.dtype]:
    from numpy.lib import format as npformat

    if version == (1, 0):
        return npformat.read_array_header_1_0(f, max_header_size=_MAX_HEADER)
    if version == (2, 0):
        return npformat.read_array_header_2_0(f, max_header_size=_MAX_HEADER)
    reader = getattr(npformat, "_read_array_header", None)  # version 3.0: UTF-8 field names
    if version == (3, 0) and reader is not None:
        return reader(f, version, max_header_size=_MAX_HEADER)
    raise ValueError(f"unsupported .npy format version {version}")


def load_npy(path, *, error: Type[WsssZooError] = DatasetError, what: str = "file"):
    """``np.load(path)`` for ``.npy`` files from outside, without running pickled code.

    Returns an ndarray; a pickled dict (``np.save(path, {...})``) comes back as a 0-d object array, as
    with ``np.load`` (use :func:`load_npy_dict`). A plain pickle stored under a ``.npy`` name (which
    ``np.load(allow_pickle=True)`` also reads) is unpickled the same restricted way. Every failure is
    raised as ``error`` naming the file: a refused global, a truncated or damaged file, a header whose
    array would be larger than the file.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        with open(path, "rb") as f:
            size = path.stat().st_size
            start = f.read(len(NPY_MAGIC))
            f.seek(0)
            if start == NPY_MAGIC:
                from numpy.lib import format as npformat

                version = npformat.read_magic(f)
                shape, fortran, dtype = _read_header(f, version)
                if dtype.hasobject:
                    return restricted_load(f, size)
                needed = math.prod(shape) * dtype.itemsize
                if needed > size - f.tell():
                    raise ValueError(f"its header announces {needed} bytes of data but the file has "
                                     f"{size - f.tell()} (truncated?)")
                f.seek(0)
                return np.load(f, allow_pickle=False)
            if start[:1] == b"\x80":  # a bare pickle (protocol >= 2)
                return restricted_load(f, size)
    except UnsafePickleError as exc:
        raise error(
            f"{path} was refused: its pickled data refers to {exc}, which is not part of numpy arrays, "
            "numbers, strings or containers; loading it would run code from the file. If you made the file "
            "yourself, re-save it with plain numpy arrays, lists and dicts") from None
    except WsssZooError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to parse an outside file is a format problem
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise error(f"cannot read {what} {path} ({type(exc).__name__}{': ' + detail if detail else ''}); "
                    "it is truncated, damaged or not a .npy file") from None
    raise error(f"{path} is not a .npy file (no NumPy header); give the file np.save wrote")


def load_npy_dict(path, *, error: Type[WsssZooError] = DatasetError, what: str = "file") -> dict:
    """The dict inside an ``np.save(path, {...})`` file (upstream CAM files, ``cls_labels.npy``)."""
    obj = load_npy(path, error=error, what=what)
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, dict):
        got = f"an array of shape {obj.shape}" if isinstance(obj, np.ndarray) else type(obj).__name__
        raise error(f"{path} is not a {what}: it holds {got}, not a dict saved with np.save(path, {{...}})")
    return obj

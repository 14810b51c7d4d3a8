"""Mechanism that maps upstream checkpoint layouts onto our modules.

Steps, each a small pure function on dicts (timm's ``checkpoint_filter_fn`` shape):

1. :func:`read_checkpoint` -- open the file safely: safetensors, or ``torch.load(weights_only=True)``
   with, at most, the numpy scalar globals that DRS/VainF wrapper files pickle (``miou``,
   ``best_score``) allow-listed; never a blanket ``weights_only=False``.
2. :func:`unwrap_state_dict` -- take the tensors out of ``{'model': ...}`` / ``{'model_state': ...}`` /
   ``{'state_dict': ...}`` wrappers and strip a DataParallel ``module.`` prefix.
3. A registered *layout* rule (:func:`register_layout`) collapses alias keys, drops training-only
   buffers and renames keys to the canonical names of our module.
4. :func:`load_state_dict_strict` -- strict load that names the missing / unexpected keys.
"""
from __future__ import annotations

import dataclasses
import json
import math
import pickle
import re
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import CheckpointFormatError, CheckpointMismatchError
from ..finite import nonfinite_keys
from ..registry.named import Registry

StateDict = "OrderedDict[str, torch.Tensor]"

WRAPPER_KEYS = ("model", "model_state", "state_dict", "model_state_dict", "net", "network")
HTML_PREFIXES = (b"<!doctype", b"<html", b"<head", b"<?xml", b"<body")


# --------------------------------------------------------------------------- reading files
def _numpy_scalar_globals() -> list:
    """The numpy globals needed to unpickle numpy scalars (``np.float64(0.71)``), old and new spellings."""
    core = getattr(np, "_core", None) or np.core
    scalar = core.multiarray.scalar
    allowed = [scalar, (scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar"), np.dtype]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        for cls in ("Float64DType", "Float32DType", "Float16DType", "Int64DType", "Int32DType", "BoolDType"):
            if hasattr(dtypes, cls):
                allowed.append(getattr(dtypes, cls))
    return allowed


#: ``torch.serialization.MAGIC_NUMBER`` as the legacy (torch < 1.6) format pickles it: opcode LONG1, 10 bytes
TORCH_LEGACY_MAGIC = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
#: first 8 bytes of an MXNet NDArray list file (``kMXAPINDArrayListMagic``, mxnet src/c_api/c_api.cc)
MXNET_MAGIC = (0x112).to_bytes(8, "little")
#: bytes of a file's head that :func:`sniff_bytes` and :func:`download_format` look at
SNIFF_BYTES = 512


def sniff_bytes(head: bytes) -> str:
    """Classify the first bytes of a file: 'empty', 'html', 'zip' (torch >= 1.6 and any other zip), 'pickle',
    'safetensors', 'mxnet', 'json' or 'unknown'."""
    if not head:
        return "empty"
    low = head.lstrip().lower()
    if any(low.startswith(p) for p in HTML_PREFIXES):
        return "html"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:1] == b"\x80":
        return "pickle"
    # u64 header length, then the JSON header; a length below 2**56 has a zero byte, which JSON text never has
    if len(head) >= 9 and head[8:9] == b"{" and b"\x00" in head[:8]:
        return "safetensors"
    if head[:8] == MXNET_MAGIC:
        return "mxnet"
    if low[:1] in (b"{", b"["):
        return "json"
    return "unknown"


def sniff_file(path) -> str:
    """:func:`sniff_bytes` of the first :data:`SNIFF_BYTES` bytes of ``path``."""
    with open(Path(path), "rb") as f:
        return sniff_bytes(f.read(SNIFF_BYTES))


def _is_torch_zip(head: bytes) -> bool:
    """A zip whose first member is ``<folder>/data.pkl``: what ``torch.save`` writes first in every version of
    its zip format (torch/csrc/jit/serialization/pickler + ``torch.serialization._save``)."""
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        return False
    n = int.from_bytes(head[26:28], "little")  # local file header: file name length at offset 26
    name = head[30:30 + n]
    return len(name) == n and (name == b"data.pkl" or name.endswith(b"/data.pkl"))


def download_format(head: bytes) -> Optional[str]:
    """The checkpoint format that the first bytes of a downloaded body announce, or None.

    Accepted: a torch zip checkpoint, a legacy torch pickle (its magic number within the first pickle frame),
    an MXNet NDArray file and safetensors. Everything else -- empty bodies, HTML and JSON pages, other zips
    and pickles, unknown bytes -- is refused before it reaches the cache.
    """
    kind = sniff_bytes(head)
    if kind == "zip":
        return "torch zip checkpoint" if _is_torch_zip(head) else None
    if kind == "pickle":
        return "legacy torch checkpoint" if TORCH_LEGACY_MAGIC in head[:32] else None
    return {"mxnet": "MXNet NDArray file", "safetensors": "safetensors file"}.get(kind)


def read_checkpoint(path, allow_numpy_scalars: bool = True):
    """Load a checkpoint file without executing arbitrary pickled code.

    Returns whatever the file holds (a state dict, or a wrapper dict). Raises
    :class:`CheckpointFormatError` for HTML pages, truncated or non-checkpoint files.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointFormatError(f"checkpoint file not found: {path}")
    kind = sniff_file(path)
    if kind == "html":
        raise CheckpointFormatError(
            f"{path} is an HTML page, not a checkpoint (a failed Google Drive or login download?); "
            "delete it and download the file again, or place the real file there")
    if kind == "empty":
        raise CheckpointFormatError(f"{path} is empty; delete it and download it again")
    if kind == "json":
        raise CheckpointFormatError(f"{path} is a JSON document (a server's error message?), not a checkpoint; "
                                    "delete it and download the file again")
    if kind == "safetensors":
        return read_safetensors(path)
    if kind == "mxnet":
        from .mxnet import read_mxnet_params

        return read_mxnet_params(path)
    try:
        return _torch_load_weights_only(path, allow_numpy_scalars)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        reason = f"it refers to {found.group(1)}" if found else str(exc).strip().splitlines()[0][:200]
        raise CheckpointFormatError(
            f"{path} cannot be unpickled safely ({reason}): it pickles objects other than tensors and numpy "
            "scalars, which wsss_zoo refuses to unpickle, or it is truncated. If the file is complete, load it "
            "in a trusted session and re-save only the state dict with torch.save(state_dict, path)") from exc
    # truncated or crafted files fail in many ways inside torch.load (RuntimeError, EOFError, BadZipFile,
    # struct.error, KeyError, MemoryError for absurd sizes...): all mean "not a readable checkpoint"
    except Exception as exc:  # noqa: BLE001
        raise CheckpointFormatError(
            f"cannot read {path} as a PyTorch checkpoint ({type(exc).__name__}: {str(exc)[:200]}); "
            "the file is probably truncated or not a checkpoint: delete it and download it again") from exc


#: safetensors dtype names and their sizes in bytes (safetensors ``Dtype``)
SAFETENSORS_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
                      "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
#: the largest JSON header accepted (the safetensors library's own limit)
MAX_SAFETENSORS_HEADER = 100_000_000


def check_safetensors_header(path) -> dict:
    """Validate a safetensors file's framing before the library maps it; return its JSON header.

    Checked: the 8-byte header length against the file size and :data:`MAX_SAFETENSORS_HEADER`, the
    header as UTF-8 JSON, and every tensor's dtype, shape and ``data_offsets`` against the data that
    follows (a truncated download, a garbled or crafted file). Raises :class:`CheckpointFormatError`.
    """
    path = Path(path)
    size = path.stat().st_size

    def bad(reason: str):
        return CheckpointFormatError(
            f"{path} is not a valid safetensors file ({reason}); it is truncated or damaged: delete it and "
            "download or convert it again")

    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise bad("shorter than its 8-byte header length")
        n = int.from_bytes(raw, "little")
        if n > MAX_SAFETENSORS_HEADER or n > size - 8:
            raise bad(f"its header claims {n} bytes but the file has {size - 8} after the length")
        text = f.read(n)
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise bad(f"its header is not JSON: {str(exc)[:100]}") from None
    if not isinstance(header, dict):
        raise bad("its header is not a JSON object")
    data_len = size - 8 - n
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                raise bad("its __metadata__ is not a string-to-string map")
            continue
        if not isinstance(info, dict):
            raise bad(f"the entry of {name!r} is not an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in SAFETENSORS_DTYPES:
            raise bad(f"tensor {name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise bad(f"tensor {name!r} has a malformed shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_len):
            raise bad(f"tensor {name!r} has data offsets {offsets!r} outside the {data_len} bytes of data")
        if offsets[1] - offsets[0] != math.prod(shape) * SAFETENSORS_DTYPES[dtype]:
            raise bad(f"tensor {name!r} of shape {shape} and dtype {dtype} does not fill its "
                      f"{offsets[1] - offsets[0]} bytes")
    return header


def read_safetensors(path) -> "OrderedDict[str, torch.Tensor]":
    """Tensors of a safetensors file, after :func:`check_safetensors_header`."""
    from safetensors.torch import load_file

    check_safetensors_header(path)
    try:
        return OrderedDict(load_file(str(path)))
    except Exception as exc:  # noqa: BLE001 - SafetensorError and friends: a damaged file
        raise CheckpointFormatError(
            f"cannot read {path} as safetensors ({type(exc).__name__}: {str(exc)[:200]}); "
            "delete it and download or convert it again") from None


def _torch_load_weights_only(path: Path, allow_numpy_scalars: bool):
    """``torch.load(weights_only=True)``; on refusal, once more with the numpy scalar globals allowed."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not allow_numpy_scalars:
            raise
    with torch.serialization.safe_globals(_numpy_scalar_globals()):
        return torch.load(str(path), map_location="cpu", weights_only=True)


# --------------------------------------------------------------------------- unwrapping
def _is_tensor_dict(obj) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def unwrap_state_dict(obj) -> "OrderedDict[str, torch.Tensor]":
    """Return the tensor dict inside ``obj``: unwrap known wrapper keys and strip ``module.``."""
    seen = 0
    while not _is_tensor_dict(obj):
        seen += 1
        if not isinstance(obj, Mapping) or seen > 3:
            raise CheckpointFormatError(
                f"no state dict found in the checkpoint (got {type(obj).__name__}"
                + (f" with keys {list(obj)[:8]}" if isinstance(obj, Mapping) else "") + ")")
        for key in WRAPPER_KEYS:
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
        else:
            tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
            if tensors and len(tensors) >= len(obj) // 2:
                obj = tensors  # a state dict with a few stray non-tensor entries
            else:
                raise CheckpointFormatError(
                    f"no state dict found in the checkpoint; top-level keys: {list(obj)[:10]}")
    sd = OrderedDict(obj.items())
    if all(k.startswith("module.") for k in sd):
        sd = OrderedDict((k[len("module."):], v) for k, v in sd.items())
    return sd


# --------------------------------------------------------------------------- small rules
def strip_prefix(sd, prefix: str) -> "OrderedDict[str, torch.Tensor]":
    """Remove ``prefix`` from every key that has it."""
    return OrderedDict((k[len(prefix):] if k.startswith(prefix) else k, v) for k, v in sd.items())


def add_prefix(sd, prefix: str) -> "OrderedDict[str, torch.Tensor]":
    return OrderedDict((prefix + k, v) for k, v in sd.items())


def drop_keys(sd, patterns: Iterable[str]) -> "OrderedDict[str, torch.Tensor]":
    """Drop keys matching any regular expression in ``patterns`` (``re.search``)."""
    regs = [re.compile(p) for p in patterns]
    return OrderedDict((k, v) for k, v in sd.items() if not any(r.search(k) for r in regs))


def collapse_aliases(sd, aliases: Sequence[Tuple[str, str]], check_equal: bool = True):
    """Fold alias key sets onto canonical names.

    ``aliases`` is a list of ``(alias_prefix, canonical_prefix)``. A key starting with an alias prefix
    is renamed to the canonical prefix; when the canonical key is also present (upstream saved the same
    tensor under both names) the alias is dropped, after checking that both hold the same values.
    """
    out = OrderedDict()
    pending = []
    for k, v in sd.items():
        for alias, canon in aliases:
            if k.startswith(alias):
                pending.append((canon + k[len(alias):], k, v))
                break
        else:
            out[k] = v
    for canon_key, alias_key, v in pending:
        if canon_key in out:
            if check_equal and (out[canon_key].shape != v.shape or not torch.equal(out[canon_key], v)):
                raise CheckpointFormatError(
                    f"alias keys disagree: {alias_key!r} and {canon_key!r} should hold the same tensor")
        else:
            out[canon_key] = v
    return out


def rename_keys(sd, mapping: Callable[[str], Optional[str]]):
    """Rename every key with ``mapping``; a key mapped to None is dropped."""
    out = OrderedDict()
    for k, v in sd.items():
        nk = mapping(k)
        if nk is not None:
            out[nk] = v
    return out


# --------------------------------------------------------------------------- layouts
@dataclasses.dataclass(frozen=True)
class Layout:
    """An upstream on-disk layout: a conversion function and keys that identify it."""

    name: str
    convert: Callable
    signature: Tuple[str, ...] = ()
    description: str = ""


LAYOUTS: Registry[Layout] = Registry("checkpoint layout", packages=("wsss_zoo.models",))


def register_layout(name: str, signature: Sequence[str] = (), description: str = ""):
    """Decorator: register ``fn(state_dict) -> state_dict`` converting upstream layout ``name``.

    Called from the network family's own module (``wsss_zoo/models/<family>.py``), beside its builders,
    as timm keeps ``checkpoint_filter_fn`` beside the model. ``signature`` lists keys (after unwrapping)
    whose joint presence identifies the layout; it tells users which family a mismatching file belongs to.
    """

    def deco(fn):
        LAYOUTS.register(name, Layout(name, fn, tuple(signature),
                                      description or (fn.__doc__ or "").strip().split("\n")[0]))
        return fn

    return deco


def get_layout(name: str) -> Layout:
    return LAYOUTS.get(name)


def list_layouts() -> List[str]:
    return LAYOUTS.names()


def guess_layouts(sd) -> List[str]:
    """Names of registered layouts whose signature keys are all present in ``sd``."""
    keys = set(sd)
    return [name for name, lay in LAYOUTS.items() if lay.signature and all(k in keys for k in lay.signature)]


def convert_state_dict(obj, layout: str):
    """Unwrap ``obj`` and apply the registered conversion of ``layout``."""
    sd = unwrap_state_dict(obj)
    return get_layout(layout).convert(sd)


# --------------------------------------------------------------------------- strict loading
def _fmt(keys, limit=8) -> str:
    keys = list(keys)
    more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_state_dict_strict(model: torch.nn.Module, sd, name: str = "the network"):
    """Strictly load ``sd`` into ``model``; raise :class:`CheckpointMismatchError` naming the keys.

    BatchNorm ``num_batches_tracked`` counters are optional in both directions (MXNet conversions
    and torch 0.4.0 files have none; they never influence inference).
    """
    own = model.state_dict()
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in own and not k.endswith("num_batches_tracked")]
    mismatched = [f"{k}: file {tuple(sd[k].shape)} vs network {tuple(own[k].shape)}"
                  for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    # an int8/bool tensor would be cast silently into a float parameter (int8 weights become ~0)
    mistyped = [f"{k}: file {str(sd[k].dtype).replace('torch.', '')} vs network "
                f"{str(own[k].dtype).replace('torch.', '')}" for k in own
                if k in sd and own[k].is_floating_point() and isinstance(sd[k], torch.Tensor)
                and not sd[k].is_floating_point()]
    if missing or unexpected or mismatched or mistyped:
        lines = [f"checkpoint does not fit {name}:"]
        if missing:
            lines.append(f"  missing keys ({len(missing)}): {_fmt(missing)}")
        if unexpected:
            lines.append(f"  unexpected keys ({len(unexpected)}): {_fmt(unexpected)}")
        if mismatched:
            lines.append(f"  shape mismatches ({len(mismatched)}): {_fmt(mismatched, 4)}")
        if mistyped:
            lines.append(f"  integer or boolean tensors for float parameters ({len(mistyped)}): "
                         f"{_fmt(mistyped, 4)}; quantised or re-typed files are not supported: give the "
                         "float checkpoint")
        raise CheckpointMismatchError("\n".join(lines), missing, unexpected, mismatched + mistyped)
    broken = nonfinite_keys({k: sd[k] for k in own if k in sd})
    if broken:
        raise CheckpointFormatError(
            f"checkpoint for {name} holds NaN or infinite values in {len(broken)} tensor(s): {_fmt(broken)}; "
            "the file is damaged or comes from a diverged training run")
    full = OrderedDict()
    for k, v in own.items():
        full[k] = sd[k] if k in sd else v
    model.load_state_dict(full, strict=True)
    return model

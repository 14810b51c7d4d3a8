"""The cache of converted state dicts: ``<cache>/converted/<name>-<key>.safetensors`` plus its record.

The key is the sha256 of the *source file's content* and the layout rule, never its path or date: a
replaced source (even one of the same size and mtime) gets a new conversion. The record beside each
file (``<file>.json``) holds the converted file's own sha256 and size; a conversion is used only when it
hashes to its record (flipped bytes, a truncated or swapped file are rebuilt), and only after its record
is written is it complete. A conversion that cannot be written (full disk, read-only cache) is left out
with a warning: the state dict in memory is used and nothing half-written stays behind.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import warnings
from pathlib import Path
from typing import Optional

from ..convert.core import read_safetensors
from ..errors import CacheError, CheckpointFormatError
from ..fileio import atomic_path, atomic_write_text
from ..registry import ModelEntry
from . import places
from .records import sha256_file


def conversion_path(entry: ModelEntry, source_sha: str) -> Path:
    """Where the conversion of the file with sha256 ``source_sha`` by ``entry``'s layout rule is kept."""
    key = hashlib.sha256(f"{source_sha.lower()}|{entry.layout}".encode()).hexdigest()[:20]
    return places.converted_dir() / f"{entry.name}-{key}.safetensors"


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _discard(path: Path) -> None:
    for p in (path, _record_path(path)):
        with contextlib.suppress(OSError):
            p.unlink(missing_ok=True)


def read_conversion(entry: ModelEntry, source_sha: str) -> Optional[dict]:
    """The cached conversion, verified against its record; None (after removing a bad one) when there is none."""
    path = conversion_path(entry, source_sha)
    if not path.is_file():
        return None
    try:
        rec = json.loads(_record_path(path).read_text(encoding="utf-8"))
        good = (isinstance(rec, dict) and rec.get("source_sha256") == source_sha.lower()
                and rec.get("layout") == entry.layout and rec.get("size") == path.stat().st_size
                and rec.get("sha256") == sha256_file(path))
        sd = read_safetensors(path) if good else None
    except (OSError, ValueError, CheckpointFormatError):
        sd = None
    if sd is None:
        _discard(path)
    return sd


def keep_conversion(entry: ModelEntry, source_sha: str, state_dict: dict, source: Path) -> Optional[Path]:
    """Write the conversion and its record; on a full or read-only cache, warn and keep nothing."""
    from safetensors.torch import save_file

    import safetensors

    path = conversion_path(entry, source_sha)
    failures = (OSError, getattr(safetensors, "SafetensorError", OSError))
    try:
        places.writable_dir(path.parent)
        with atomic_path(path, ".safetensors") as tmp:
            save_file({k: v.contiguous() for k, v in state_dict.items()}, str(tmp),
                      metadata={"wsss_zoo_name": entry.name, "layout": entry.layout, "source": str(source),
                                "source_sha256": source_sha.lower()})
            record = {"name": entry.name, "layout": entry.layout, "source_sha256": source_sha.lower(),
                      "sha256": sha256_file(tmp), "size": tmp.stat().st_size}
        atomic_write_text(_record_path(path), json.dumps(record, indent=1, sort_keys=True) + "\n")
    except (CacheError, *failures) as exc:
        _discard(path)
        reason = str(exc) if isinstance(exc, CacheError) else str(places.cache_error(path.parent, _as_os_error(exc)))
        warnings.warn(f"{entry.name} was converted in memory but its converted copy could not be kept: {reason}",
                      stacklevel=3)
        return None
    return path


def _as_os_error(exc: Exception) -> OSError:
    """safetensors reports I/O failures as ``SafetensorError('... No space left on device (os error 28)')``."""
    if isinstance(exc, OSError):
        return exc
    import errno
    import re

    code = re.search(r"os error (\d+)", str(exc))
    return OSError(int(code.group(1)), str(exc)) if code else OSError(errno.EIO, str(exc))

"""Name -> verified, cached checkpoint file -> converted state dict.

Resolution order for a model name: an explicit local path > the cache > an optional Hugging Face
mirror (``WSSS_ZOO_HF_REPO``) > the original sources of checkpoints.json (GitHub release, Google
Drive). The transport (resumable HTTP, Drive confirm form, HTML detection, sha256, atomic rename)
lives in :mod:`wsss_zoo.download`.

After an upstream file is read and converted once, the canonical state dict is cached as
safetensors, so later loads are fast and pickle-free.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional, Tuple

from .registry import model_entry

ENV_HOME = "WSSS_ZOO_HOME"
ENV_OFFLINE = "WSSS_ZOO_OFFLINE"


def cache_dir() -> Path:
    """``$WSSS_ZOO_HOME``, else ``<torch hub dir>/wsss_zoo`` (``~/.cache/torch/hub/wsss_zoo``)."""
    env = os.environ.get(ENV_HOME)
    if env:
        path = Path(env).expanduser()
    else:
        import torch.hub

        path = Path(torch.hub.get_dir()) / "wsss_zoo"
    return path


def checkpoints_dir() -> Path:
    return cache_dir() / "checkpoints"


def converted_dir() -> Path:
    return cache_dir() / "converted"


def is_offline() -> bool:
    """True when WSSS_ZOO_OFFLINE or HF_HUB_OFFLINE is set to a true value."""
    for var in (ENV_OFFLINE, "HF_HUB_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    return False


def cached_file_path(entry: dict) -> Path:
    """Where the upstream file of an entry lives in the cache (whether or not it exists yet)."""
    return checkpoints_dir() / entry["filename"]


def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def resolve_file(name_or_entry, weights=None, *, progress: bool = True) -> Path:
    """Path of the checkpoint file for a model: ``weights`` if given, else cache, else download."""
    from .download import check_cached, check_local_weights, fetch_entry  # imports requests lazily

    entry = model_entry(name_or_entry) if isinstance(name_or_entry, str) else name_or_entry
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            from .errors import CheckpointFormatError

            raise CheckpointFormatError(f"weights file not found: {path}")
        check_local_weights(entry, path)
        return path
    target = cached_file_path(entry)
    if target.is_file():
        check_cached(entry, target)
        return target
    # offline mode: OfflineError before any network call (a local HF-mirror copy is still used)
    return fetch_entry(entry, target, progress=progress)


def download(name_or_entry, progress: bool = True) -> Path:
    """Download (or find in the cache) the published file of a model; returns its path."""
    return resolve_file(name_or_entry, progress=progress)


def verify_cached(name_or_entry) -> bool:
    """Re-hash a model's cached file: True when it matches the registry's (or the cache's recorded) sha256."""
    from .download import verify_cached as _verify

    entry = model_entry(name_or_entry) if isinstance(name_or_entry, str) else name_or_entry
    return _verify(entry)


def describe_sources(entry: dict) -> str:
    out = []
    for src in entry.get("sources", []):
        if src.get("kind") == "gdrive":
            out.append(f"https://drive.google.com/file/d/{src['id']}/view")
        elif src.get("url"):
            out.append(src["url"])
    return ", ".join(out) or "none published"


def _conversion_key(path: Path, layout: str) -> str:
    st = path.stat()
    raw = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{layout}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def load_state_dict(name_or_entry, weights=None, *, progress: bool = True, use_cache: bool = True):
    """Return ``(state_dict, path)``: the entry's weights converted to our module's canonical keys.

    Upstream files are read safely and converted by the layout rule named in the entry; the result
    is cached as safetensors under ``<cache>/converted`` and reused while the source file is unchanged.
    """
    from safetensors.torch import load_file, save_file

    from .convert import convert_state_dict, read_checkpoint, sniff_file

    entry = model_entry(name_or_entry) if isinstance(name_or_entry, str) else name_or_entry
    path = resolve_file(entry, weights, progress=progress)
    if sniff_file(path) == "safetensors":
        return read_checkpoint(path), path
    layout = entry["layout"]
    cache = converted_dir() / f"{entry['name']}-{_conversion_key(path, layout)}.safetensors"
    if use_cache and cache.is_file():
        try:
            return load_file(str(cache)), path
        except Exception:  # a damaged cache file is simply rebuilt
            cache.unlink(missing_ok=True)
    sd = convert_state_dict(read_checkpoint(path), layout)
    if use_cache:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp),
                      metadata={"wsss_zoo_name": entry["name"], "layout": layout, "source": str(path)})
            os.replace(tmp, cache)
        except OSError:
            pass  # read-only cache: conversion still worked
    return sd, path

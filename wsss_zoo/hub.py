"""Name -> verified, cached checkpoint file -> converted state dict.

Resolution order for a model entry: an explicit local path > a ``file`` source of a user entry > the cache >
an optional Hugging Face mirror (``WSSS_ZOO_HF_REPO``) > the entry's current sources (GitHub release,
Google Drive). Files, hashes and offline state are :mod:`wsss_zoo.cache`; fetching bytes is
:mod:`wsss_zoo.download`; reading and converting checkpoints is :mod:`wsss_zoo.convert`.

After an upstream file is read and converted once, the canonical state dict is cached as safetensors,
so later loads are fast and pickle-free.
"""
from __future__ import annotations

from pathlib import Path


from . import cache
from .errors import CheckpointFormatError
from .fileio import atomic_path
from .registry import ModelEntry


def _local_file(weights) -> Path:
    path = Path(weights).expanduser()
    if not path.is_file():
        raise CheckpointFormatError(f"weights file not found: {path}")
    return path


def resolve_file(entry: ModelEntry, weights=None, *, progress: bool = True) -> Path:
    """Path of the checkpoint file of ``entry``: ``weights`` if given, else cache, else download."""
    from .convert import sniff_file

    if weights is not None:
        path = _local_file(weights)
        cache.check_local_weights(entry, path, sniff_file(path))
        return path
    local = [s for s in entry.current_sources if s.kind == "file"]
    if local:
        path = _local_file(local[0].path)
        cache.check_local_weights(entry, path, sniff_file(path))
        return path
    target = cache.cached_file_path(entry)
    if target.is_file():
        cache.check_cached(entry, target)
        return target
    from .download import fetch_entry  # imports requests lazily

    # offline mode: OfflineError before any network call (a local HF-mirror copy is still used)
    return fetch_entry(entry, target, progress=progress)


def download(entry: ModelEntry, progress: bool = True) -> Path:
    """Download (or find in the cache) the published file of a model; returns its path."""
    return resolve_file(entry, progress=progress)


def load_state_dict(entry: ModelEntry, weights=None, *, progress: bool = True, use_cache: bool = True):
    """Return ``(state_dict, path)``: the entry's weights converted to our module's canonical keys.

    Upstream files are read safely and converted by the layout rule named in the entry; the result
    is cached as safetensors under ``<cache>/converted`` and reused while the source file is unchanged.
    """
    from safetensors.torch import load_file, save_file

    from .convert import convert_state_dict, read_checkpoint, sniff_file

    path = resolve_file(entry, weights, progress=progress)
    if sniff_file(path) == "safetensors":
        return read_checkpoint(path), path
    converted = cache.converted_path(entry, path)
    if use_cache and converted.is_file():
        try:
            return load_file(str(converted)), path
        except Exception:  # a damaged cache file is simply rebuilt
            converted.unlink(missing_ok=True)
    sd = convert_state_dict(read_checkpoint(path), entry.layout)
    if use_cache:
        try:
            with atomic_path(converted, ".safetensors") as tmp:
                save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp),
                          metadata={"wsss_zoo_name": entry.name, "layout": entry.layout, "source": str(path)})
        except OSError:
            pass  # read-only cache: conversion still worked
    return sd, path


__all__ = ["download", "load_state_dict", "resolve_file"]


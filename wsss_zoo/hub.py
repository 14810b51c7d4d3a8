"""Name -> verified, cached checkpoint file -> converted state dict; and ``hf-hub:`` folders.

Resolution order for a model entry: an explicit local path or ``hf-hub:ORG/NAME`` > a ``file`` source of a
user entry > the cache > an optional Hugging Face mirror (``WSSS_ZOO_HF_REPO``) > the entry's current sources
(GitHub release, Google Drive). Files, hashes and offline state are :mod:`wsss_zoo.cache`; fetching bytes is
:mod:`wsss_zoo.download`; reading and converting checkpoints is :mod:`wsss_zoo.convert`.

After an upstream file is read and converted once, the canonical state dict is cached as safetensors keyed
by the source file's sha256 (:mod:`wsss_zoo.cache.converted`), so later loads are fast and pickle-free.

``hf-hub:ORG/NAME[@REVISION]`` names a Hugging Face repo written by ``wsss-zoo publish``: ``config.json``
(a registry entry, :data:`CONFIG_FORMAT`) and ``model.safetensors``; :func:`hf_model` rebuilds the entry with
the registry's own parser, so the name need not be in the local registry.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional, Tuple

from . import cache
from .convert import register_layout
from .errors import CheckpointFormatError, ConfigError, RegistryError
from .registry import ModelEntry

HF_PREFIX = "hf-hub:"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
#: ``format`` of the config.json that ``wsss-zoo publish`` writes; ``format_version`` is :data:`CONFIG_VERSION`
CONFIG_FORMAT = "wsss_zoo model folder"
CONFIG_VERSION = 1
#: the layout of a file that already holds wsss_zoo's key names (``wsss-zoo convert`` / ``publish`` output)
CANONICAL_LAYOUT = "canonical"
MAX_CONFIG_BYTES = 1 << 20
_HF_NAME = re.compile(r"hf-hub:([A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@([\w./-]+))?")


@register_layout(CANONICAL_LAYOUT, description="wsss_zoo's own key names: read as they are")
def _canonical(sd):
    return sd


# --------------------------------------------------------------------------- local files, cache, download
def _local_file(weights) -> Path:
    path = Path(weights).expanduser()
    if not path.is_file():
        raise CheckpointFormatError(f"weights file not found: {path}")
    return path


def resolve_source(entry: ModelEntry, weights=None, *, progress: bool = True) -> Tuple[Path, Optional[str]]:
    """``(path, sha256)`` of the checkpoint file of ``entry``: ``weights`` if given, else cache, else download.

    The sha256 is checked against what is recorded (:mod:`wsss_zoo.cache.records`); it is None for
    safetensors files (``weights=`` conversions, the mirror, ``hf-hub:``), which are read as they are.
    """
    from .convert import sniff_file

    if weights is not None and is_hf_name(weights):
        return hf_weights(entry, weights, progress=progress), None
    local = [s for s in entry.current_sources if s.kind == "file"]
    if weights is not None or local:
        path = _local_file(weights if weights is not None else local[0].path)
        return path, cache.check_local_weights(entry, path, sniff_file(path))
    target = cache.cached_file_path(entry)
    if not target.is_file():
        from .download import fetch_entry  # imports requests lazily

        # offline mode: OfflineError before any network call (a local HF-mirror copy is still used)
        path = fetch_entry(entry, target, progress=progress)
        if path != target:
            return path, None
    return target, cache.check_cached(entry, target)


def resolve_file(entry: ModelEntry, weights=None, *, progress: bool = True) -> Path:
    """Path of the checkpoint file of ``entry``: ``weights`` if given, else cache, else download."""
    return resolve_source(entry, weights, progress=progress)[0]


def download(entry: ModelEntry, progress: bool = True) -> Path:
    """Download (or find in the cache) the published file of a model; returns its path."""
    return resolve_file(entry, progress=progress)


def load_state_dict(entry: ModelEntry, weights=None, *, progress: bool = True, use_cache: bool = True):
    """Return ``(state_dict, path)``: the entry's weights converted to our module's canonical keys.

    Upstream files are read safely and converted by the layout rule named in the entry; the result is
    cached as safetensors under ``<cache>/converted``, keyed by the source's sha256 and checked against
    its own recorded sha256 before each use (rebuilt when it does not match).
    """
    from .convert import convert_state_dict, read_checkpoint, sniff_file

    path, sha = resolve_source(entry, weights, progress=progress)
    if sniff_file(path) == "safetensors":
        return read_checkpoint(path), path
    if sha is None:
        sha = cache.sha256_file(path)
    if use_cache:
        sd = cache.read_conversion(entry, sha)
        if sd is not None:
            return sd, path
    sd = convert_state_dict(read_checkpoint(path), entry.layout)
    if use_cache:
        cache.keep_conversion(entry, sha, sd, path)
    return sd, path


# --------------------------------------------------------------------------- hf-hub: names
def is_hf_name(value) -> bool:
    return isinstance(value, str) and value.startswith(HF_PREFIX)


def parse_hf_name(spec: str) -> Tuple[str, Optional[str]]:
    """``(repo_id, revision)`` of ``hf-hub:ORG/NAME[@REVISION]``."""
    m = _HF_NAME.fullmatch(spec.strip()) if isinstance(spec, str) else None
    if not m:
        raise ConfigError(f"{spec!r} is not a Hugging Face name: give hf-hub:ORG/NAME or hf-hub:ORG/NAME@REVISION")
    return m.group(1), m.group(2)


def read_model_config(path: Path, spec: str) -> dict:
    """The config.json of a published folder: a JSON object written by ``wsss-zoo publish`` (format checked)."""
    where = f"{spec} {CONFIG_FILE}"
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{where} is larger than {MAX_CONFIG_BYTES} bytes; it was not written by wsss-zoo publish")
    try:
        config = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{where} is not UTF-8 JSON ({str(exc)[:120]}); the repo was not written by wsss-zoo "
                          "publish, or its config.json was damaged") from None
    if not isinstance(config, dict) or config.get("format") != CONFIG_FORMAT:
        raise ConfigError(f"{where} is not a wsss_zoo model folder config (no \"format\": \"{CONFIG_FORMAT}\"); "
                          "publish the folder with wsss-zoo publish")
    if config.get("format_version") != CONFIG_VERSION:
        raise ConfigError(f"{where} has format_version {config.get('format_version')!r}; this wsss_zoo reads "
                          f"version {CONFIG_VERSION}: upgrade wsss_zoo")
    return config


def entry_from_config(config: dict, spec: str) -> ModelEntry:
    """The registry entry a published config.json carries, validated by the registry's own parser."""
    from .registry.entries import check_name, parse_model
    from .registry.loader import catalog

    where = f"{spec} {CONFIG_FILE}"
    name = config.get("wsss_zoo_name")
    check_name(name, "model", where)
    data = config.get("entry")
    if not isinstance(data, dict):
        raise RegistryError(f"{where}: 'entry' must be an object (a checkpoints.json model entry)")
    if data.get("layout") != CANONICAL_LAYOUT:
        raise RegistryError(f"{where}: entry.layout must be {CANONICAL_LAYOUT!r} (model.safetensors holds "
                            f"wsss_zoo's key names), got {data.get('layout')!r}")
    return parse_model(name, data, f"{where}: entry", catalog().methods)


def _hub_files(spec: str, progress: bool) -> Tuple[dict, Path]:
    from .convert import sniff_file
    from .download import hub_file

    repo, revision = parse_hf_name(spec)
    config = read_model_config(hub_file(repo, CONFIG_FILE, revision, progress=False), spec)
    weights = hub_file(repo, WEIGHTS_FILE, revision, progress=progress)
    if sniff_file(weights) != "safetensors":
        raise CheckpointFormatError(f"{WEIGHTS_FILE} of {spec} is not a safetensors file")
    return config, weights


def hf_model(spec: str, *, progress: bool = True) -> Tuple[ModelEntry, Path]:
    """``(entry, model.safetensors)`` of ``hf-hub:ORG/NAME``; works offline from the cache."""
    config, weights = _hub_files(spec, progress)
    return entry_from_config(config, spec), weights


def hf_weights(entry: ModelEntry, spec: str, *, progress: bool = True) -> Path:
    """``model.safetensors`` of ``hf-hub:ORG/NAME`` for the registry name ``entry`` (the folder must hold it)."""
    config, weights = _hub_files(spec, progress)
    if config.get("wsss_zoo_name") != entry.name:
        raise ConfigError(f"{spec} holds {config.get('wsss_zoo_name')!r}, not {entry.name}; load it on its own "
                          f"with wsss_zoo.load({spec!r})")
    return weights


__all__ = ["CANONICAL_LAYOUT", "CONFIG_FILE", "CONFIG_FORMAT", "CONFIG_VERSION", "HF_PREFIX", "WEIGHTS_FILE",
           "download", "entry_from_config", "hf_model", "hf_weights", "is_hf_name", "load_state_dict",
           "parse_hf_name", "read_model_config", "resolve_file", "resolve_source"]

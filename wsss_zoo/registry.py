"""The registry: ``checkpoints.json`` (artifacts, pipelines, metrics) and the builder functions.

``checkpoints.json`` at the repository root is the single source of truth for every published
artifact and pipeline. Network families register their builders here with :func:`register_model`
(timm style); an entry's ``architecture`` names the builder and its keyword arguments.
"""
from __future__ import annotations

import copy
import difflib
import functools
import json
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .errors import UnknownNameError

_PACKAGE_DIR = Path(__file__).resolve().parent
REGISTRY_CANDIDATES = (_PACKAGE_DIR / "checkpoints.json", _PACKAGE_DIR.parent / "checkpoints.json")

_BUILDERS: Dict[str, Callable] = {}


def registry_path() -> Path:
    """Location of checkpoints.json: inside an installed package, else the repository root."""
    for path in REGISTRY_CANDIDATES:
        if path.is_file():
            return path
    raise FileNotFoundError("checkpoints.json not found next to the wsss_zoo package or in the repository root")


@functools.lru_cache(maxsize=1)
def _registry() -> dict:
    with open(registry_path(), encoding="utf-8") as f:
        return json.load(f)


def registry() -> dict:
    """A deep copy of the whole parsed checkpoints.json."""
    return copy.deepcopy(_registry())


def _unknown(kind: str, name: str, choices) -> UnknownNameError:
    close = difflib.get_close_matches(str(name), list(choices), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; see wsss_zoo.list_{kind}s()"
    return UnknownNameError(f"unknown {kind} name {name!r}{hint}")


def model_entry(name: str) -> dict:
    """The checkpoints.json entry of a model (a deep copy); UnknownNameError with close matches."""
    models = _registry()["models"]
    if name not in models:
        raise _unknown("model", name, list(models) + list(_registry()["pipelines"]))
    entry = copy.deepcopy(models[name])
    entry["name"] = name
    return entry


def pipeline_entry(name: str) -> dict:
    """The checkpoints.json entry of a pipeline (a deep copy)."""
    pipes = _registry()["pipelines"]
    if name not in pipes:
        raise _unknown("pipeline", name, list(pipes) + list(_registry()["models"]))
    entry = copy.deepcopy(pipes[name])
    entry["name"] = name
    method = copy.deepcopy(_registry().get("methods", {}).get(entry.get("method"), {}))
    for key in ("paper", "citation", "code", "license"):
        if key not in entry and key in method:
            entry[key] = method[key]
    return entry


def is_model(name: str) -> bool:
    return name in _registry()["models"]


def is_pipeline(name: str) -> bool:
    return name in _registry()["pipelines"]


def list_models(task: Optional[str] = None, method: Optional[str] = None, dataset: Optional[str] = None) -> List[str]:
    """Names of published checkpoints, optionally filtered by task, method and dataset (case-insensitive)."""
    out = []
    for name, entry in _registry()["models"].items():
        if task is not None and entry.get("task", "").lower() != task.lower():
            continue
        if method is not None and entry.get("method", "").lower() != method.lower():
            continue
        if dataset is not None and entry.get("dataset", "").lower() != dataset.lower():
            continue
        out.append(name)
    return sorted(out)


def list_pipelines() -> List[str]:
    """Names of the pseudo-mask pipelines."""
    return sorted(_registry()["pipelines"])


def model_info(name: str) -> dict:
    """The registry entry of a model or pipeline: sources, metrics, license, citation, settings."""
    if is_pipeline(name) and not is_model(name):
        return pipeline_entry(name)
    return model_entry(name)


# --------------------------------------------------------------------------- builders
def register_model(arch: str):
    """Decorator registering ``fn(**kwargs) -> nn.Module`` as the builder of architecture ``arch``."""

    def deco(fn):
        if arch in _BUILDERS and _BUILDERS[arch] is not fn:
            raise ValueError(f"architecture {arch!r} registered twice")
        _BUILDERS[arch] = fn
        return fn

    return deco


def _load_families():
    from .models import load_all

    load_all()


def builder(arch: str) -> Callable:
    _load_families()
    if arch not in _BUILDERS:
        raise _unknown("architecture", arch, _BUILDERS)
    return _BUILDERS[arch]


def list_architectures() -> List[str]:
    _load_families()
    return sorted(_BUILDERS)


def build_model(entry_or_name, **overrides):
    """Build the (randomly initialised) network of a registry entry, with optional kwarg overrides."""
    entry = model_entry(entry_or_name) if isinstance(entry_or_name, str) else entry_or_name
    arch = entry["architecture"]
    kwargs = dict(arch.get("kwargs", {}))
    kwargs.update(overrides)
    return builder(arch["builder"])(**kwargs)

"""The registry: typed entries for every published checkpoint and pipeline, from ``checkpoints.json``.

``checkpoints.json`` is the single source of truth; :mod:`.entries` parses each entry once into a frozen
:class:`ModelEntry` / :class:`PipelineEntry`, :mod:`.loader` merges the user's overlays
(``WSSS_ZOO_REGISTRY``, :func:`add_entries`) and :mod:`.named` holds the one generic :class:`Registry` class
behind builders, checkpoint layouts, recipes, pipelines and training tasks.
"""
from __future__ import annotations

import fnmatch
from typing import List, Optional, Sequence, Union

from .loader import (ENV_REGISTRY, Catalog, add_entries, catalog, clear_entries, document, entry, is_model,
                      is_pipeline, method_record, model_entry, models, pipeline_entry, pipelines, pipelines_using,
                      registry_path)
from .entries import (CamSpec, CrfSpec, Inference, License, Metric, ModelEntry, PipelineEntry, Preprocess,
                      SegmentSpec, Source)
from .named import Registry

Filter = Union[str, Sequence[str], None]


def _matches(name: str, patterns: Filter) -> bool:
    if patterns is None:
        return True
    if isinstance(patterns, str):
        patterns = [patterns]
    return any(fnmatch.fnmatchcase(name.lower(), str(p).lower()) for p in patterns)


def _same(value: str, wanted: Optional[str]) -> bool:
    return wanted is None or value.lower() == str(wanted).lower()


def list_models(filter: Filter = "*", *, task: Optional[str] = None, method: Optional[str] = None,
                dataset: Optional[str] = None) -> List[str]:
    """Names of the published checkpoints, sorted.

    ``filter``: a wildcard pattern on the name (``"*eps*"``, ``"rib_*"``) or a list of them, as timm's
    ``list_models``; ``task``, ``method``, ``dataset`` filter exactly (case-insensitive).
    """
    return [e.name for e in models() if _matches(e.name, filter) and _same(e.task, task)
            and _same(e.method, method) and _same(e.dataset, dataset)]


def list_pipelines(filter: Filter = "*", *, method: Optional[str] = None, dataset: Optional[str] = None) -> List[str]:
    """Names of the pseudo-mask pipelines, sorted; same filters as :func:`list_models`."""
    return [p.name for p in pipelines() if _matches(p.name, filter) and _same(p.method, method)
            and _same(p.dataset, dataset)]


def model_info(name: str) -> dict:
    """The registry entry of a model or pipeline as a plain dict: sources, metrics, license, citation, settings."""
    return entry(name).to_dict()


__all__ = [
    "CamSpec", "Catalog", "CrfSpec", "ENV_REGISTRY", "Inference", "License", "Metric", "ModelEntry", "PipelineEntry",
    "Preprocess", "Registry", "SegmentSpec", "Source", "add_entries", "catalog", "clear_entries", "document",
    "entry", "is_model", "is_pipeline", "list_models", "list_pipelines", "method_record", "model_entry",
    "model_info", "models", "pipeline_entry", "pipelines", "pipelines_using", "registry_path",
]

"""Inference recipes: CAMs, random walks, refinement and pseudo masks per method.

Shared blocks: :mod:`.cam` (multi-scale + flip passes, fusion, normalisation) and
:mod:`.random_walk` (the affinity random walk). Each method module registers its CAM,
segmentation and pipeline recipes (see :mod:`.base`); importing this package imports them all.
"""
import importlib
import pkgutil

from .base import Pipeline  # noqa: F401

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")

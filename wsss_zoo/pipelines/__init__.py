"""Inference recipes: CAMs, random walks, refinement and pseudo masks per method.

Shared blocks: :mod:`.cam` (multi-scale + flip passes, fusion, normalisation) and
:mod:`.random_walk` (the affinity random walk). Each method module registers its CAM,
segmentation and pipeline recipes (see :mod:`.base`); :func:`load_all` imports them all and is
called on first use of a recipe.
"""
import importlib
import pkgutil

from .base import Pipeline  # noqa: F401

_LOADED = False


def load_all():
    """Import (once) every recipe module of this package, registering its recipes."""
    global _LOADED
    if _LOADED:
        return
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _LOADED = True

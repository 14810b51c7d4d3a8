"""Every training recipe, by name. ``python training/run.py --list`` prints this table."""
from __future__ import annotations

from wsss_zoo.registry import Registry

from . import cda, drs, eps, rib, sbnet
from .base import QUIRKS, Recipe, StageInput, Upstream  # noqa: F401

RECIPES: Registry[Recipe] = Registry("training recipe", hint="see python training/run.py --list")
for _module in (drs, cda, eps, sbnet, rib):
    for _r in _module.RECIPES:
        RECIPES.register(_r.name, _r)


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; UnknownNameError with the closest names."""
    return RECIPES.get(name)

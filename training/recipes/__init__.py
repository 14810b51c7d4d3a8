"""Every training recipe, by name. ``python training/run.py --list`` prints this table."""
from __future__ import annotations

from typing import Dict

from . import cda, drs, eps, rib, sbnet
from .base import QUIRKS, Recipe, StageInput, Upstream  # noqa: F401

RECIPES: Dict[str, Recipe] = {}
for _module in (drs, cda, eps, sbnet, rib):
    for _r in _module.RECIPES:
        if _r.name in RECIPES:
            raise ValueError(f"recipe {_r.name} defined twice")
        RECIPES[_r.name] = _r


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        import difflib

        close = difflib.get_close_matches(name, RECIPES, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown recipe {name!r}{hint} (python training/run.py --list)")
    return RECIPES[name]

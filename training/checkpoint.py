"""Checkpoint files of a run in ``--out DIR``:

* ``<name>.last.pth`` -- resume state (network, optimiser, AMP scaler, step), rewritten every
  ``--save-every`` steps and at the end;
* ``<file>.pth`` -- the trained network's state dict under our canonical keys (= upstream's canonical
  names), which ``wsss_zoo.load(load_as, weights=path)`` reads through the entry's layout rule;
  ``<file>`` is the registry name for the stage that produces a published checkpoint, else the recipe;
* ``<file>.json`` -- recipe, run settings, inits and final metrics.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional

import torch

from wsss_zoo.fileio import atomic_write, atomic_write_text
from wsss_zoo.registry import model_entry


def output_stem(recipe) -> str:
    """Registry name when the recipe is the one that trains that published checkpoint, else the recipe name."""
    try:
        if model_entry(recipe.load_as).train_recipe == recipe.name:
            return recipe.load_as
    except Exception:  # noqa: BLE001 - an unknown load_as is reported elsewhere
        pass
    return recipe.name


def _atomic_save(obj, path: Path) -> None:
    """``torch.save`` through :func:`wsss_zoo.fileio.atomic_write` (synced: a crash keeps the last good state)."""
    atomic_write(path, lambda f: torch.save(obj, f), fsync=True)


def last_path(out_dir: Path, name: str) -> Path:
    return Path(out_dir) / f"{name}.last.pth"


def save_last(out_dir: Path, name: str, model, optimizer, scaler, step: int, extra: Optional[dict] = None) -> Path:
    path = last_path(out_dir, name)
    state = {"recipe": name, "step": int(step), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scaler": scaler.state_dict() if scaler is not None else {}}
    if extra:
        state.update(extra)
    _atomic_save(state, path)
    return path


def load_last(out_dir: Path, name: str) -> Optional[Dict]:
    path = last_path(out_dir, name)
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("recipe") != name:
        raise RuntimeError(f"{path} belongs to recipe {state.get('recipe')!r}, not {name!r}")
    return state


def save_final(out_dir: Path, stem: str, state_dict: Dict[str, torch.Tensor], report: dict) -> Path:
    path = Path(out_dir) / f"{stem}.pth"
    _atomic_save({k: v.detach().cpu().contiguous() for k, v in state_dict.items()}, path)
    atomic_write_text(path.with_suffix(".json"), json.dumps(dict(report, file=str(path)), indent=1, default=str))
    return path

"""``--smoke``: a tiny generated dataset and stage inputs for any recipe, and the checks of the result.

The VOC / COCO trees come from the repository's test writers (``tests/fixtures/datasets.py``); the stage
inputs a recipe reads (IR labels, CAM dicts, CRF dicts, localisation maps, boundary maps, the CDA bank,
pseudo labels) are derived from their GT masks and written where the recipe looks for them.
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from wsss_zoo.data.io import write_cam_npy, write_label_png
from wsss_zoo.errors import ConfigError

from .config import RunConfig
from .recipes.base import Recipe

ROOT = Path(__file__).resolve().parent.parent


def default_out(recipe: Recipe) -> Path:
    """A per-run folder shared by every torchrun process (same TORCHELASTIC_RUN_ID)."""
    run = os.environ.get("TORCHELASTIC_RUN_ID") or str(os.getpid())
    return Path(tempfile.gettempdir()) / "wsss_zoo_smoke" / f"{recipe.name}-{run}"


def _fixtures():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        from tests.fixtures import datasets
    except ImportError as exc:
        raise ConfigError("--smoke needs the repository checkout (tests/fixtures/datasets.py writes the tiny "
                          f"dataset): {exc}") from exc
    return datasets


def make_tree(recipe: Recipe, base: Path):
    """The tiny dataset of a recipe: VOC (8 train_aug images) or COCO in the recipe's layout."""
    fx = _fixtures()
    if recipe.dataset == "voc":
        return fx.make_voc_tree(base / "voc", n_train=4, n_val=2, n_sbd=4, seed=0)
    return fx.make_coco_tree(base / "coco", layout=recipe.data.get("coco_layout", "eps"), n_train=6, n_val=2, seed=1)


# --------------------------------------------------------------------------- stage inputs from GT
def _soft_maps(mask: np.ndarray, ids, rng) -> np.ndarray:
    """Per-class maps in [0, 1] peaking inside each class region (K, H, W)."""
    from scipy import ndimage

    maps = []
    for c in ids:
        m = ndimage.gaussian_filter((mask == c).astype(np.float32), 2.0) + 0.05 * rng.random(mask.shape)
        maps.append(m / (m.max() + 1e-5))
    return np.stack(maps).astype(np.float32) if maps else np.zeros((0,) + mask.shape, np.float32)


def _write_input(name: str, folder: Path, recipe: Recipe, tree, rng) -> None:
    from .tasks.prep import boundary_maps, save_npy

    folder.mkdir(parents=True, exist_ok=True)
    n_fg = 20 if recipe.dataset == "voc" else 80
    for image_id, mask in tree.masks.items():
        ids = [int(c) for c in tree.labels[image_id]]
        present = [c for c in ids if (mask == c).any()] or ids
        if name in ("ir_labels", "labels", "masks"):
            write_label_png(folder / f"{image_id}.png", mask)
        elif name == "pseudo_masks":
            write_label_png(folder / f"{image_id}.png", np.where(mask == 255, 0, mask).astype(np.uint8))
        elif name == "cams":
            style = "irn" if recipe.kind == "ir_labels" else "psa"
            write_cam_npy(folder / f"{image_id}.npy", ids, _soft_maps(mask, ids, rng), style)
        elif name in ("crf_la", "crf_ha"):
            fg = _soft_maps(mask, ids, rng)
            bg = (1 - fg.max(0)) ** (4 if name == "crf_la" else 24) if len(ids) else np.ones(mask.shape, np.float32)
            save_npy(folder / f"{image_id}.npy", {0: bg.astype(np.float32), **{c: fg[i] for i, c in enumerate(ids)}})
        elif name == "loc_maps":
            from wsss_zoo.pipelines.preprocess import pil_resize

            size = 64
            small = pil_resize(mask, (size, size), "nearest")
            maps = np.zeros((n_fg, size, size), np.uint8)
            for i, c in enumerate(ids):
                maps[c - 1] = (255 * _soft_maps(small, [c], rng)[0]).astype(np.uint8)
            np.save(folder / f"{image_id}.npy", maps)
        elif name == "boundary":
            save_npy(folder / f"{image_id}.npy", boundary_maps(mask, n_fg + 1, 2))
        elif name == "bank":
            for c in present:
                rows, cols = np.flatnonzero((mask == c).any(1)), np.flatnonzero((mask == c).any(0))
                box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
                from PIL import Image

                img = np.asarray(Image.open(tree.root / "JPEGImages" / f"{image_id}.jpg").convert("RGB"))
                seg = np.where(mask[box] == c, c, 0).astype(np.uint8)
                save_npy(folder / str(c - 1) / f"{image_id}.npy", {"img": img[box], "seg": seg})
        else:
            raise ConfigError(f"--smoke has no generator for stage input {name!r}")


def apply_paths(cfg: RunConfig, paths: dict) -> RunConfig:
    """Point ``cfg`` at the smoke dataset / inputs / weights that :func:`prepare` wrote (every rank)."""
    for key, value in paths.items():
        if key == "inputs":
            cfg.inputs.update(value)
        else:
            setattr(cfg, key, value)
    return cfg


def prepare(cfg: RunConfig, base: Optional[Path] = None) -> dict:
    """Write the tiny dataset and the recipe's stage inputs (rank 0); returns the paths for :func:`apply_paths`."""
    recipe = cfg.recipe
    base = Path(base or cfg.out_dir / "smoke_data")
    tree = make_tree(recipe, base)
    paths = {"voc_root" if recipe.dataset == "voc" else "coco_root": Path(tree.root), "inputs": {}}
    rng = np.random.default_rng(0)
    for spec in recipe.inputs:
        if spec.name == "saliency" or spec.name in cfg.inputs:
            continue
        if spec.default.startswith("out:"):
            folder = Path(cfg.out_dir) / spec.default[4:]
        elif spec.default.startswith("root:"):
            folder = Path(tree.root) / spec.default[5:]
        else:
            folder = base / "inputs" / spec.name
            paths["inputs"][spec.name] = folder
        _write_input(spec.name, folder, recipe, tree, rng)
    if recipe.kind in ("loc_maps", "rib_cams") and cfg.weights is None:
        paths["weights"] = write_random_weights(recipe, base)
    return paths


def write_random_weights(recipe: Recipe, base: Path) -> Path:
    """A randomly initialised network of ``recipe.load_as`` saved as a plain state dict."""
    from wsss_zoo.models import build_model
    from wsss_zoo.registry import model_entry

    torch.manual_seed(0)
    path = base / f"random_{recipe.load_as}.pth"
    torch.save(build_model(model_entry(recipe.load_as)).state_dict(), path)
    return path


# --------------------------------------------------------------------------- checks
def check(cfg: RunConfig, report: dict) -> Dict[str, object]:
    """The ``--smoke`` verdict: finite losses that move, and a checkpoint that loads back through
    ``wsss_zoo.load``; for prep recipes, output files."""
    recipe = cfg.recipe
    if recipe.stage == "prep":
        folder = Path(report["output"])
        files = [p for p in folder.rglob("*") if p.is_file()]
        ok = bool(files)
        return {"ok": ok, "files": len(files), "output": str(folder)}
    losses = report["metrics"]["losses"] or []
    finite = bool(losses) and all(math.isfinite(v) for v in losses)
    moved = len(losses) >= 2 and any(abs(v - losses[0]) > 1e-7 for v in losses[1:])
    loaded = _load_back(recipe, Path(report["file"]), cfg.out_dir)
    return {"ok": finite and moved and loaded, "finite": finite, "moved": moved, "loads": loaded,
            "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None}


def _load_back(recipe: Recipe, path: Path, out_dir: Path) -> bool:
    import wsss_zoo

    old = os.environ.get("WSSS_ZOO_HOME")
    os.environ["WSSS_ZOO_HOME"] = str(out_dir / "zoo_home")
    try:
        model = wsss_zoo.load(recipe.load_as, weights=str(path))
    finally:
        if old is None:
            os.environ.pop("WSSS_ZOO_HOME", None)
        else:
            os.environ["WSSS_ZOO_HOME"] = old
    saved = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    # the converters drop BatchNorm counters (upstream's are always 0); --train-bn runs count batches
    return all(torch.equal(own[k], v) for k, v in saved.items()
               if k in own and not k.endswith("num_batches_tracked")) and len(own) > 0

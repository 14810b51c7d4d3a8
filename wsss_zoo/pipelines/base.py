"""Recipe registries and the :class:`Pipeline` base class.

Three kinds of recipes, each registered by name and selected by checkpoints.json:

* CAM recipes (``entry["inference"]["cam"]["recipe"]``): ``fn(model, image, label_ids, *, scales,
  flip, **settings) -> torch.Tensor [K, H, W]`` -- one upstream inference script's normalised maps;
* segmentation recipes (``entry["inference"]["segment"]["recipe"]``): ``fn(model, image, *, crf,
  **settings) -> np.ndarray uint8 [H, W]``;
* pipeline classes (``pipelines.<name>.recipe``): subclasses of :class:`Pipeline` that chain the
  role networks into a pseudo mask, as IRN's steps do (cam -> affinity/irn -> random walk -> mask).
"""
from __future__ import annotations

import inspect
from typing import Callable, Dict, Optional

import numpy as np
import torch

from ..errors import ConfigError, WsssZooError
from ..inputs import load_image, parse_labels

_CAM_RECIPES: Dict[str, Callable] = {}
_SEGMENT_RECIPES: Dict[str, Callable] = {}
_PIPELINES: Dict[str, type] = {}


def register_cam_recipe(name: str):
    def deco(fn):
        _CAM_RECIPES[name] = fn
        return fn

    return deco


def register_segment_recipe(name: str):
    def deco(fn):
        _SEGMENT_RECIPES[name] = fn
        return fn

    return deco


def register_pipeline(name: str):
    def deco(cls):
        cls.recipe = name
        _PIPELINES[name] = cls
        return cls

    return deco


def _load_recipes():
    from . import load_all

    load_all()


def cam_recipe(name: str) -> Callable:
    _load_recipes()
    if name not in _CAM_RECIPES:
        raise ConfigError(f"no CAM recipe {name!r}; known: {sorted(_CAM_RECIPES)}")
    return _CAM_RECIPES[name]


def segment_recipe(name: str) -> Callable:
    _load_recipes()
    if name not in _SEGMENT_RECIPES:
        raise ConfigError(f"no segmentation recipe {name!r}; known: {sorted(_SEGMENT_RECIPES)}")
    return _SEGMENT_RECIPES[name]


def pipeline_class(name: str) -> type:
    _load_recipes()
    if name not in _PIPELINES:
        raise ConfigError(f"no pipeline recipe {name!r}; known: {sorted(_PIPELINES)}")
    return _PIPELINES[name]


def model_config(model: torch.nn.Module) -> dict:
    """The registry entry attached to a network by :func:`wsss_zoo.load`."""
    cfg = getattr(model, "wsss_zoo_cfg", None)
    if cfg is None:
        raise ConfigError(
            "this network was not created by wsss_zoo.load(), so its inference settings are unknown; "
            "build it with wsss_zoo.load(name, weights=path)")
    return cfg


def model_device(model: torch.nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def run_cam(model, image, labels, *, scales=None, flip=None) -> torch.Tensor:
    """Dispatch :func:`wsss_zoo.cam` to the model's CAM recipe with upstream defaults."""
    cfg = model_config(model)
    spec = cfg.get("inference", {}).get("cam")
    if not spec:
        raise ConfigError(
            f"{cfg['name']} is a {cfg.get('task', '?')} network and produces no class activation maps; "
            f"CAM networks: {', '.join(_cam_model_names())}")
    settings = {k: v for k, v in spec.items() if k not in ("recipe", "scales", "flip")}
    img = load_image(image)
    ids = parse_labels(labels, cfg["dataset"])
    scales = tuple(spec.get("scales", (1.0,))) if scales is None else tuple(float(s) for s in scales)
    if not scales or any(s <= 0 for s in scales):
        raise ConfigError(f"scales must be positive numbers, got {scales}")
    flip = bool(spec.get("flip", True)) if flip is None else bool(flip)
    with torch.inference_mode():
        out = cam_recipe(spec["recipe"])(model, img, ids, scales=scales, flip=flip, **settings)
    return out.float().cpu()


def run_segment(model, image, *, crf=False, **options) -> np.ndarray:
    """Dispatch :func:`wsss_zoo.segment`; ``options`` override the recipe settings of checkpoints.json."""
    cfg = model_config(model)
    spec = cfg.get("inference", {}).get("segment")
    if not spec:
        raise ConfigError(f"{cfg['name']} is not a segmentation network; use one of "
                          f"{', '.join(_segment_model_names())}")
    settings = {k: v for k, v in spec.items() if k != "recipe"}
    unknown = set(options) - set(inspect.signature(segment_recipe(spec["recipe"])).parameters) - {"crf"}
    if unknown:
        raise ConfigError(f"unknown option(s) {sorted(unknown)} for {cfg['name']}; "
                          f"its settings: {sorted(settings)}")
    settings.update(options)
    img = load_image(image)
    with torch.inference_mode():
        return segment_recipe(spec["recipe"])(model, img, crf=crf, **settings)


def _cam_model_names():
    from ..registry import registry

    return [n for n, e in registry()["models"].items() if e.get("inference", {}).get("cam")]


def _segment_model_names():
    from ..registry import registry

    return [n for n, e in registry()["models"].items() if e.get("inference", {}).get("segment")]


class Pipeline:
    """A method's pseudo-mask recipe with its role networks loaded.

    Subclasses implement :meth:`_cam` and :meth:`_pseudo_mask` on validated inputs (uint8 RGB image,
    sorted segmentation ids). ``settings`` holds the upstream defaults from checkpoints.json, which
    keyword arguments of :func:`wsss_zoo.load_pipeline` may override.
    """

    recipe: str = ""
    needs_saliency: bool = False

    def __init__(self, entry: dict, models: Dict[str, torch.nn.Module], settings: Optional[dict] = None,
                 device="cpu"):
        self.entry = entry
        self.name = entry["name"]
        self.dataset = entry["dataset"]
        self.models = models
        self.settings = dict(entry.get("settings", {}))
        self.settings.update(settings or {})
        self.device = torch.device(device)

    def __repr__(self):
        roles = ", ".join(f"{r}={getattr(m, 'wsss_zoo_cfg', {}).get('name', type(m).__name__)}"
                          for r, m in self.models.items())
        return f"Pipeline({self.name!r}, recipe={self.recipe!r}, {roles})"

    # public API ------------------------------------------------------------------------------
    def cam(self, image, labels) -> torch.Tensor:
        """Normalised CAMs [K, H, W], one row per distinct label (ascending id), background excluded."""
        img = load_image(image)
        ids = parse_labels(labels, self.dataset)
        with torch.inference_mode():
            return self._cam(img, ids).float().cpu()

    def pseudo_mask(self, image, labels, *, saliency=None, crf=False) -> np.ndarray:
        """The upstream pipeline's label map: uint8 [H, W], 0 background, class ids, 255 ignore."""
        img = load_image(image)
        ids = parse_labels(labels, self.dataset)
        if crf and not self.entry.get("crf"):
            raise ConfigError(f"{self.name} publishes no CRF setting for pseudo masks; use crf=False")
        with torch.inference_mode():
            out = self._pseudo_mask(img, ids, saliency=saliency, crf=crf)
        out = np.asarray(out)
        if out.shape != img.shape[:2] or out.dtype != np.uint8:
            raise WsssZooError(f"internal error: {self.name} produced {out.dtype} {out.shape}")
        return out

    # to implement ------------------------------------------------------------------------------
    def _cam(self, image: np.ndarray, ids) -> torch.Tensor:
        raise NotImplementedError

    def _pseudo_mask(self, image: np.ndarray, ids, *, saliency=None, crf=False) -> np.ndarray:
        raise NotImplementedError

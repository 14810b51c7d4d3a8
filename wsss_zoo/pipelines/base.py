"""Recipe registries, the core inference functions and the :class:`Pipeline` base class.

Three registries, filled by the method modules of this package and selected by checkpoints.json:

* CAM recipes (``inference.cam.recipe``): :class:`~wsss_zoo.pipelines.cam.CamRecipe` configurations
  of the one multi-scale loop;
* segmentation recipes (``inference.segment.recipe``): ``fn(model, image, *, crf, pre, **options) ->
  np.ndarray uint8 [H, W]``;
* pipeline classes (``pipelines.<name>.recipe``): subclasses of :class:`Pipeline` that chain the role
  networks into a pseudo mask, as IRN's steps do (cam -> affinity/irn -> random walk -> mask).

The functions here work on validated inputs (a uint8 RGB array, sorted class ids): the public edge
(:mod:`wsss_zoo.api`, :meth:`Pipeline.cam`, :meth:`Pipeline.pseudo_mask`) validates once.
"""
from __future__ import annotations

import inspect
from typing import Callable, Dict, Mapping, Optional, Sequence

import numpy as np
import torch

from ..errors import ConfigError, WsssZooError
from ..inputs import load_image, parse_labels
from ..precision import precision_of
from ..registry import ModelEntry, PipelineEntry, Registry, models as registry_models
from . import settings as S
from .cam import CamRecipe, model_device, recipe_cam  # noqa: F401  (model_device: re-exported)

_PLUGINS = ("wsss_zoo.pipelines",)
CAM_RECIPES: Registry[CamRecipe] = Registry("CAM recipe", packages=_PLUGINS)
SEGMENT_RECIPES: Registry[Callable] = Registry("segmentation recipe", packages=_PLUGINS)
PIPELINES: Registry[type] = Registry("pipeline recipe", packages=_PLUGINS)


def register_cam_recipe(recipe: CamRecipe) -> CamRecipe:
    """Register a :class:`CamRecipe` under its name (called by the method module that defines it)."""
    return CAM_RECIPES.register(recipe.name, recipe)


def register_segment_recipe(name: str):
    return SEGMENT_RECIPES.register(name)


def register_pipeline(name: str):
    def deco(cls):
        cls.recipe = name
        return PIPELINES.register(name, cls)

    return deco


def pipeline_class(name: str) -> type:
    return PIPELINES.get(name)


# ----------------------------------------------------------------------------- networks
def model_entry_of(model: torch.nn.Module) -> ModelEntry:
    """The registry entry attached to a network by :func:`wsss_zoo.load`."""
    entry = getattr(model, "wsss_zoo_entry", None)
    if entry is None:
        raise ConfigError(
            "this network was not created by wsss_zoo.load(), so its inference settings are unknown; "
            "build it with wsss_zoo.load(name, weights=path)")
    return entry


def _names_with(kind: str) -> str:
    return ", ".join(e.name for e in registry_models() if getattr(e.inference, kind) is not None)


def compute_cam(model: torch.nn.Module, image: np.ndarray, ids: Sequence[int], *, scales=None,
                flip: Optional[bool] = None) -> torch.Tensor:
    """A network's CAMs [K, H, W] (float32, CPU) for a validated image and ids, upstream defaults filled in."""
    entry = model_entry_of(model)
    spec = entry.inference.cam
    if spec is None:
        raise ConfigError(f"{entry.name} is a {entry.task} network and produces no class activation maps; "
                          f"CAM networks: {_names_with('cam')}")
    scales = spec.scales if scales is None else tuple(float(s) for s in scales)
    if not scales or any(not s > 0 for s in scales):
        raise ConfigError(f"scales must be positive numbers, got {scales}")
    flip = spec.flip if flip is None else bool(flip)
    with torch.inference_mode():
        out = recipe_cam(model, image, ids, CAM_RECIPES.get(spec.recipe), scales=scales, flip=flip,
                         pre=entry.preprocess, options=spec.options)
    return out.float().cpu()


def compute_segment(model: torch.nn.Module, image: np.ndarray, *, crf: bool = False, **options) -> np.ndarray:
    """A segmentation network's label map uint8 [H, W]; ``options`` override the entry's recipe options."""
    entry = model_entry_of(model)
    spec = entry.inference.segment
    if spec is None:
        raise ConfigError(f"{entry.name} is not a segmentation network; use one of {_names_with('segment')}")
    recipe = SEGMENT_RECIPES.get(spec.recipe)
    unknown = set(options) - set(inspect.signature(recipe).parameters) - {"crf"}
    if unknown:
        raise ConfigError(f"unknown option(s) {sorted(unknown)} for {entry.name}; its settings: {sorted(spec.options)}")
    merged = dict(spec.options, **options)
    with torch.inference_mode():
        return recipe(model, image, crf=crf, pre=entry.preprocess, **merged)


# ----------------------------------------------------------------------------- pipelines
class Pipeline:
    """A method's pseudo-mask recipe with its role networks loaded.

    Subclasses declare ``SETTINGS`` (name -> :class:`~wsss_zoo.pipelines.settings.Setting`) and implement
    :meth:`_cam` and :meth:`_pseudo_mask` on validated inputs (uint8 RGB image, sorted segmentation ids).
    ``settings`` holds the entry's defaults from checkpoints.json, overridden by keyword arguments of
    :func:`wsss_zoo.load_pipeline`, all validated by the same schema.
    """

    recipe: str = ""
    needs_saliency: bool = False
    SETTINGS: Mapping[str, S.Setting] = {}

    def __init__(self, entry: PipelineEntry, models: Dict[str, torch.nn.Module], settings: Optional[Mapping] = None,
                 device="cpu"):
        self.entry = entry
        self.name = entry.name
        self.dataset = entry.dataset
        self.models = models
        self.settings = self.resolve_settings(entry, settings or {})
        self.device = torch.device(device)
        self.precision = precision_of(next(iter(models.values()))) if models else "fp32"

    @classmethod
    def resolve_settings(cls, entry: PipelineEntry, overrides: Mapping) -> dict:
        """The entry's settings with ``overrides``, checked against ``SETTINGS`` (ConfigError naming the fix)."""
        merged = S.validate(cls.SETTINGS, dict(entry.settings), f"{entry.name} (registry entry {entry.origin})")
        merged.update(S.validate(cls.SETTINGS, dict(overrides), entry.name, defaults=merged))
        return merged

    def __repr__(self):
        roles = ", ".join(f"{r}={getattr(getattr(m, 'wsss_zoo_entry', None), 'name', type(m).__name__)}"
                          for r, m in self.models.items())
        return f"Pipeline({self.name!r}, recipe={self.recipe!r}, {roles}, precision={self.precision!r})"

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
        if crf and self.entry.crf is None:
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

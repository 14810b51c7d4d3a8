"""DRS inference (qjadud1994/DRS): localization maps, refined maps and saliency-guided pseudo labels.

* CAM recipe ``drs`` (``scripts/localization_map_gen.py``): the one CAM loop on a square working frame:
  the image is PIL-bilinear resized to 320x320 and normalised (torchvision float32 arithmetic); for each
  square size s in (256, 320, 384) the frame is resized to s x s (align_corners=False), the classifier's
  class map goes through ReLU, align_corners=True upsampling back to 320x320 and max normalisation, and
  the sizes are max-fused from a zero accumulator. The 320x320 map is finally resized to the image's
  H x W (bilinear, align_corners=False) per the API.
* CAM recipe ``drs_refine`` (``scripts/pseudo_seg_label_gen.py``, ``test_refine.py``): the same passes;
  the refinement network's raw regression output upsampled (align_corners=True) straight to H x W,
  max-fused from zero. It is not normalised and may exceed 1.
* Pipeline ``drs``: the pseudo label of ``pseudo_seg_label_gen.py`` from the refined maps and a saliency
  map. The classifier is not used there (its maps trained the refiner); ``Pipeline.cam`` returns its maps.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..inputs import load_saliency
from ..models.vgg_drs import normalize_cam
from . import settings as S
from .base import Pipeline, model_entry_of, register_cam_recipe, register_pipeline
from .cam import CamRecipe, label_keys, multiscale_cam, resize_maps

WORKING_SIZE = 320
SQUARE_SIZES = (256, 320, 384)


def _working_size(options) -> int:
    return int(options.get("working_size", WORKING_SIZE))


def _in_frame(maps, size, options):
    """DRS ``cam_normalize``: ReLU, align_corners=True upsampling to the square frame, max-normalised."""
    frame = _working_size(options)
    return normalize_cam(maps, (frame, frame))


def _to_image_aligned(maps, size, options):
    return F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=True)


def _frame_to_image(cams, size, options):
    return resize_maps(cams, size, align_corners=False)


_SQUARE = dict(inputs="square", resample="bilinear", fusion="max")
DRS_CAM = register_cam_recipe(CamRecipe(
    "drs", pass_maps=lambda model, x, rows: model.class_map(x).index_select(1, rows),
    targets=(("frame", _in_frame),), output="frame", finish=_frame_to_image,
    doc="DRS localization_map_gen.py: max over square sizes of max-normalised ReLU class maps", **_SQUARE))
DRS_REFINE_CAM = register_cam_recipe(CamRecipe(
    "drs_refine", pass_maps=lambda model, x, rows: model.regression_map(x).index_select(1, rows),
    targets=(("full", _to_image_aligned),), output="full",
    doc="DRS pseudo_seg_label_gen.py: max over square sizes of the refiner's raw maps at H x W", **_SQUARE))


def localization_maps(model, image: np.ndarray, ids: Sequence[int], sizes=SQUARE_SIZES,
                      working_size: int = WORKING_SIZE, pre=None) -> torch.Tensor:
    """DRS localisation maps [K, S, S] in the square working frame (before the uint8 cast upstream saves)."""
    pre = pre if pre is not None else model_entry_of(model).preprocess
    return multiscale_cam(model, image, ids, DRS_CAM, scales=sizes, flip=False, pre=pre,
                          options={"working_size": working_size})["frame"]


def refined_maps(model, image: np.ndarray, ids: Sequence[int], sizes=SQUARE_SIZES,
                 working_size: int = WORKING_SIZE, pre=None) -> torch.Tensor:
    """Refinement-network maps [K, H, W]: raw outputs upsampled to H x W (align_corners=True), max over sizes, >= 0."""
    pre = pre if pre is not None else model_entry_of(model).preprocess
    return multiscale_cam(model, image, ids, DRS_REFINE_CAM, scales=sizes, flip=False, pre=pre,
                          options={"working_size": working_size})["full"]


def drs_pseudo_label(maps: np.ndarray, ids: Sequence[int], salient: np.ndarray, object_threshold: float = 0.2,
                     conflict_threshold: float = 0.9) -> np.ndarray:
    """``pseudo_seg_label_gen.py``'s rule on refined maps [K, H, W] and a boolean saliency mask [H, W].

    Maps below ``object_threshold`` become 0; the background score is 1 - salient; argmax over
    [background, maps] (ties to the lower index); pixels where more than two channels, background
    included, exceed ``conflict_threshold`` become 255, and so do salient pixels left as background.
    """
    maps = np.where(maps < object_threshold, np.float32(0), maps.astype(np.float32))
    scores = np.concatenate([(1.0 - salient.astype(np.float32))[None], maps], axis=0)
    confident = (scores > conflict_threshold).sum(axis=0)
    label = label_keys(ids)[np.argmax(scores, axis=0)]
    label[confident > 2] = 255
    label[salient & (label == 0)] = 255
    return label


@register_pipeline("drs")
class DrsPipeline(Pipeline):
    """DRS pseudo labels: refinement network + saliency (``pseudo_seg_label_gen.py``); roles cls, refine."""

    needs_saliency = True
    SETTINGS = {
        "object_threshold": S.fraction("refined maps below it become 0"),
        "saliency_threshold": S.integer("saliency values above it (0..255) are salient", 0, 255),
        "conflict_threshold": S.number("a pixel where more than two channels exceed it is ignored (255)", 0, 10),
        "scales": S.sizes("square input sizes in pixels"),
        "working_size": S.integer("side of the square working frame", 8, 4096),
    }

    def _maps(self, role, recipe, image, ids):
        s = self.settings
        model = self.models[role]
        return multiscale_cam(model, image, ids, recipe, scales=s.get("scales", SQUARE_SIZES), flip=False,
                              pre=model_entry_of(model).preprocess,
                              options={"working_size": s.get("working_size", WORKING_SIZE)})

    def _cam(self, image, ids):
        return _frame_to_image(self._maps("cls", DRS_CAM, image, ids)["frame"], image.shape[:2], {})

    def _pseudo_mask(self, image, ids, *, saliency=None, crf=False):
        salient = load_saliency(saliency, image.shape) > self.settings.get("saliency_threshold", 50)
        maps = self._maps("refine", DRS_REFINE_CAM, image, ids)["full"]
        return drs_pseudo_label(maps.float().cpu().numpy(), ids, salient,
                                self.settings.get("object_threshold", 0.2),
                                self.settings.get("conflict_threshold", 0.9))

"""DRS inference (qjadud1994/DRS): localization maps, refined maps and saliency-guided pseudo labels.

* CAM recipe ``drs`` (``scripts/localization_map_gen.py``): the image is PIL-bilinear resized to a square
  320x320 working frame and normalised; for each square size s in (256, 320, 384) the frame is resized to
  s x s (align_corners=False), the classifier's class map goes through ReLU, align_corners=True upsampling
  back to 320x320 and max normalisation, and the scales are max-fused from a zero accumulator. The
  320x320 map is finally resized to the image's H x W (bilinear, align_corners=False) per the API.
* CAM recipe ``drs_refine`` (``scripts/pseudo_seg_label_gen.py``, ``test_refine.py``): the refinement
  network's raw regression output upsampled (align_corners=True) straight to H x W, max-fused over the
  same sizes from zero. It is not normalised and may exceed 1.
* Pipeline ``drs``: the pseudo label of ``pseudo_seg_label_gen.py`` from the refined maps and a saliency
  map. The classifier is not used there (its maps trained the refiner); ``Pipeline.cam`` returns its maps.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..inputs import load_saliency
from ..models.vgg_drs import normalize_cam
from .base import Pipeline, model_device, register_cam_recipe, register_pipeline
from .cam import normalize_imagenet_f32, pil_resize, resize_maps

WORKING_SIZE = 320
SQUARE_SIZES = (256, 320, 384)


def square_sizes(scales) -> Tuple[int, ...]:
    """Validate DRS scales, which are square working sizes in pixels (upstream 256, 320, 384)."""
    sizes = tuple(scales)
    if not sizes or any(float(s) != int(s) or int(s) < 8 for s in sizes):
        raise ConfigError(f"DRS scales are square input sizes in pixels (upstream: {SQUARE_SIZES}), got {sizes}")
    return tuple(int(s) for s in sizes)


def _check_no_flip(flip: bool):
    if flip:
        raise ConfigError("DRS inference uses no flip (localization_map_gen.py / pseudo_seg_label_gen.py); "
                          "use flip=False")


def working_frame(image: np.ndarray, working_size: int = WORKING_SIZE) -> torch.Tensor:
    """[1, 3, S, S]: the DRS test loader's square PIL-bilinear resize (aspect ratio ignored), ToTensor, Normalize."""
    return normalize_imagenet_f32(pil_resize(image, (working_size, working_size), "bilinear")).unsqueeze(0)


def _square_passes(model, image, sizes, working_size):
    frame = working_frame(image, working_size).to(model_device(model))
    for s in sizes:
        yield F.interpolate(frame, size=(s, s), mode="bilinear", align_corners=False)


def localization_maps(model, image: np.ndarray, ids: Sequence[int], sizes=SQUARE_SIZES,
                      working_size: int = WORKING_SIZE) -> torch.Tensor:
    """DRS localisation maps [K, S, S] in the square working frame (before the uint8 cast upstream saves)."""
    rows = torch.as_tensor([i - 1 for i in ids], device=model_device(model))
    fused = None
    for x in _square_passes(model, image, sizes, working_size):
        cam = normalize_cam(model.class_map(x).index_select(1, rows), (working_size, working_size))[0]
        fused = torch.clamp(cam, min=0) if fused is None else torch.maximum(fused, cam)
    return fused


def refined_maps(model, image: np.ndarray, ids: Sequence[int], sizes=SQUARE_SIZES,
                 working_size: int = WORKING_SIZE) -> torch.Tensor:
    """Refinement-network maps [K, H, W]: raw outputs upsampled to H x W (align_corners=True), max over sizes, >= 0."""
    h, w = image.shape[:2]
    rows = torch.as_tensor([i - 1 for i in ids], device=model_device(model))
    fused = None
    for x in _square_passes(model, image, sizes, working_size):
        out = F.interpolate(model.regression_map(x).index_select(1, rows), size=(h, w), mode="bilinear",
                            align_corners=True)[0]
        fused = torch.clamp(out, min=0) if fused is None else torch.maximum(fused, out)
    return fused


@register_cam_recipe("drs")
def drs_cam(model, image, ids, *, scales, flip, working_size: int = WORKING_SIZE) -> torch.Tensor:
    """``wsss_zoo.cam`` for the DRS classifier: the 320x320 localisation map resized to H x W."""
    _check_no_flip(flip)
    maps = localization_maps(model, image, ids, square_sizes(scales), working_size)
    return resize_maps(maps, image.shape[:2], align_corners=False)


@register_cam_recipe("drs_refine")
def drs_refine_cam(model, image, ids, *, scales, flip, working_size: int = WORKING_SIZE) -> torch.Tensor:
    """``wsss_zoo.cam`` for the refinement network: the refined maps the pseudo labels are made from."""
    _check_no_flip(flip)
    return refined_maps(model, image, ids, square_sizes(scales), working_size)


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
    keys = np.asarray([0] + list(ids), dtype=np.uint8)
    label = keys[np.argmax(scores, axis=0)]
    label[confident > 2] = 255
    label[salient & (label == 0)] = 255
    return label


@register_pipeline("drs")
class DrsPipeline(Pipeline):
    """DRS pseudo labels: refinement network + saliency (``pseudo_seg_label_gen.py``); roles cls, refine."""

    needs_saliency = True

    def _sizes(self):
        return square_sizes(self.settings.get("scales", SQUARE_SIZES))

    def _cam(self, image, ids):
        maps = localization_maps(self.models["cls"], image, ids, self._sizes(),
                                 self.settings.get("working_size", WORKING_SIZE))
        return resize_maps(maps, image.shape[:2], align_corners=False)

    def _pseudo_mask(self, image, ids, *, saliency=None, crf=False):
        salient = load_saliency(saliency, image.shape) > self.settings.get("saliency_threshold", 50)
        maps = refined_maps(self.models["refine"], image, ids, self._sizes(),
                            self.settings.get("working_size", WORKING_SIZE))
        return drs_pseudo_label(maps.float().cpu().numpy(), ids, salient,
                                self.settings.get("object_threshold", 0.2),
                                self.settings.get("conflict_threshold", 0.9))

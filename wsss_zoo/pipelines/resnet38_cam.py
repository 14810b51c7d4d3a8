"""CAM recipes of the ResNet-38 family: ``psa`` (PSA infer_cls), ``eps`` (EPS infer.py), ``seam`` (SEAM
infer_SEAM / SBNet infer_SB).

All three run the same loop -- PIL-bicubic rescale to (round(H*s), round(W*s)), ImageNet normalisation,
the flip pair as one batch of 2, per-pass foreground maps bilinearly resized (align_corners=False)
straight to H x W, un-flipped and summed in pass order -- and differ by configuration:

=========  =====================================================  ================================
network    per-pass foreground map                                normalisation of the sum
=========  =====================================================  ================================
cls        ReLU(fc8 * features) at stride 8                       sum / (max + 1e-5)
eps        softmax over C+1 at stride 8, channels [:-1]           sum / (max + 1e-5)
seam(_bd)  PCM-refined ``cam_rv`` [1:] at the pass's input size   SEAM min-max (see below)
=========  =====================================================  ================================
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..models.resnet38 import ResNet38Cls, ResNet38Eps, ResNet38Seam
from .base import model_device, register_cam_recipe
from .cam import max_normalize, multiscale_passes, normalize_imagenet, resize_maps


def foreground_maps(model: torch.nn.Module, batch: torch.Tensor, fg_index: Sequence[int]) -> torch.Tensor:
    """Per-pass maps [N, K, h, w] of the foreground classes ``fg_index`` (0-based), before resizing."""
    if isinstance(model, ResNet38Seam):  # background is channel 0
        return model.forward_cam_rv(batch, channels=[i + 1 for i in fg_index])
    if isinstance(model, ResNet38Eps):  # background is the last channel
        return F.softmax(model.forward_cam(batch), dim=1)[:, list(fg_index)]
    if isinstance(model, ResNet38Cls):
        return model.forward_cam(batch)[:, list(fg_index)]
    raise ConfigError(f"{type(model).__name__} is not a ResNet-38 CAM network (cls, eps or seam)")


def summed_maps(model: torch.nn.Module, image: np.ndarray, ids: Sequence[int], scales, flip: bool) -> torch.Tensor:
    """Sum over scales (and flips) of the foreground maps at the image's H x W, float32 [K, H, W]."""
    size = image.shape[:2]
    fg_index = [i - 1 for i in ids]
    device = model_device(model)
    total = None
    for _, batch in multiscale_passes(image, scales, flip, normalize_imagenet):
        maps = resize_maps(foreground_maps(model, batch.to(device), fg_index), size)
        for j in range(maps.shape[0]):
            m = maps[j].flip(-1) if j == 1 else maps[j]
            total = m if total is None else total + m
    return total


def seam_normalize(total: torch.Tensor) -> torch.Tensor:
    """infer_SEAM normalisation of a summed map [K, H, W]: clamp negatives, zero values under min + 1e-5,
    then ``(x - min - 1e-5) / (max - min + 1e-5)`` (min and max after the clamp)."""
    s = total.clamp_min(0)
    mx = s.amax(dim=(1, 2), keepdim=True)
    mn = s.amin(dim=(1, 2), keepdim=True)
    s = torch.where(s < mn + 1e-5, torch.zeros_like(s), s)
    return (s - mn - 1e-5) / (mx - mn + 1e-5)


@register_cam_recipe("psa")
def psa_cam(model, image, ids, *, scales, flip):
    """PSA ``infer_cls.py`` with ``resnet38_cls``: scales (1, 0.5, 1.5, 2) + flips, ReLU CAM, max-normalised."""
    return max_normalize(summed_maps(model, image, ids, scales, flip))


@register_cam_recipe("eps")
def eps_cam(model, image, ids, *, scales, flip):
    """EPS ``infer.py`` (``predict_cam``): softmax foreground for ``resnet38_eps``, ReLU CAM for Base; max-normalised."""
    return max_normalize(summed_maps(model, image, ids, scales, flip))


@register_cam_recipe("seam")
def seam_cam(model, image, ids, *, scales, flip):
    """SEAM ``infer_SEAM.py`` / SBNet ``infer_SB.py``: forward output #1 (``cam_rv``), min-max normalised."""
    return seam_normalize(summed_maps(model, image, ids, scales, flip))

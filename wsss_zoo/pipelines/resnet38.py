"""CAM recipes of the ResNet-38 family: ``psa`` (PSA ``infer_cls.py``), ``eps`` (EPS ``infer.py``), ``seam``
(SEAM ``infer_SEAM.py`` / SBNet ``infer_SB.py``).

All three are the one loop of :mod:`.cam` with PIL-bicubic rescaling to (round(H*s), round(W*s)), the
entry's ImageNet normalisation, the flip pair as one batch of 2, and per-pass foreground maps resized
bilinearly (align_corners=False) straight to H x W, un-flipped and summed in pass order. They differ by:

=========  =====================================================  ================================
network    per-pass foreground map                                normalisation of the sum
=========  =====================================================  ================================
cls        ReLU(fc8 * features) at stride 8                       sum / (max + 1e-5)
eps        softmax over C+1 at stride 8, channels [:-1]           sum / (max + 1e-5)
seam(_bd)  PCM-refined ``cam_rv`` [1:] at the pass's input size   SEAM min-max (see below)
=========  =====================================================  ================================
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..models.resnet38 import ResNet38Cls, ResNet38Eps, ResNet38Seam
from .base import register_cam_recipe
from .cam import CamRecipe, max_normalize, to_image_size


def foreground_maps(model: torch.nn.Module, batch: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Per-pass maps [N, K, h, w] of the foreground classes ``rows`` (0-based), before resizing."""
    if isinstance(model, ResNet38Seam):  # background is channel 0
        return model.forward_cam_rv(batch, channels=(rows + 1).tolist())
    if isinstance(model, ResNet38Eps):  # background is the last channel
        return F.softmax(model.forward_cam(batch), dim=1).index_select(1, rows)
    if isinstance(model, ResNet38Cls):
        return model.forward_cam(batch).index_select(1, rows)
    raise ConfigError(f"{type(model).__name__} is not a ResNet-38 CAM network (cls, eps or seam)")


def seam_normalize(total: torch.Tensor) -> torch.Tensor:
    """infer_SEAM normalisation of a summed map [K, H, W]: clamp negatives, zero values under min + 1e-5,
    then ``(x - min - 1e-5) / (max - min + 1e-5)`` (min and max after the clamp)."""
    s = total.clamp_min(0)
    mx = s.amax(dim=(1, 2), keepdim=True)
    mn = s.amin(dim=(1, 2), keepdim=True)
    s = torch.where(s < mn + 1e-5, torch.zeros_like(s), s)
    return (s - mn - 1e-5) / (mx - mn + 1e-5)


_RESNET38 = dict(pass_maps=foreground_maps, targets=(("full", to_image_size),), unflip="after", fusion="sum")

PSA_CAM = register_cam_recipe(CamRecipe(
    "psa", normalize=max_normalize, doc="PSA infer_cls.py with resnet38_cls: scales (1, 0.5, 1.5, 2) + flips, "
    "ReLU CAM, max-normalised", **_RESNET38))
EPS_CAM = register_cam_recipe(CamRecipe(
    "eps", normalize=max_normalize, doc="EPS infer.py (predict_cam): softmax foreground for resnet38_eps, ReLU "
    "CAM for Base; max-normalised", **_RESNET38))
SEAM_CAM = register_cam_recipe(CamRecipe(
    "seam", normalize=seam_normalize, doc="SEAM infer_SEAM.py / SBNet infer_SB.py: forward output #1 (cam_rv), "
    "min-max normalised", **_RESNET38))

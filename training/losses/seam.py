"""SEAM's equivariant losses (YudeWang/SEAM ``train_SEAM.py``, ``tool/visualization.max_norm``; foundations.md 5.3).

SBNet's ``train_SB.py`` reuses them unchanged. Channel 0 is the background; ``label`` is
[N, 21, 1, 1] with the background always 1.
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F

SEAM_DOWNSCALE = 0.3  # view 2 = view 1 resized by 0.3 (bilinear, align_corners=True)
ECR_TOP_FRACTION = 0.2


def max_norm(p: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``max_norm``: ReLU, then per map ``ReLU(p - min - eps) / (max - min + eps)``."""
    p = F.relu(p)
    flat = p.flatten(2)
    mx = flat.max(dim=-1).values[:, :, None, None]
    mn = flat.min(dim=-1).values[:, :, None, None]
    return F.relu(p - mn - eps) / (mx - mn + eps)


def adaptive_min_pooling_loss(x: torch.Tensor) -> torch.Tensor:
    """Mean of ReLU over the hw/4 smallest per-pixel channel maxima of each image."""
    n, _, h, w = x.shape
    k = h * w // 4
    y = torch.topk(x.max(dim=1).values.view(n, -1), k=k, dim=-1, largest=False).values
    return F.relu(y).sum() / (k * n)


def max_onehot(x: torch.Tensor) -> torch.Tensor:
    """Zero every foreground value that is not the per-pixel foreground maximum (background kept)."""
    fg = x[:, 1:]
    fg = torch.where(fg != fg.max(dim=1, keepdim=True).values, torch.zeros_like(fg), fg)
    return torch.cat([x[:, :1], fg], dim=1)


def with_background(cam: torch.Tensor) -> torch.Tensor:
    """Channel 0 := 1 - max over the foreground channels."""
    return torch.cat([1 - cam[:, 1:].max(dim=1, keepdim=True).values, cam[:, 1:]], dim=1)


def downscale(x: torch.Tensor, factor: float = SEAM_DOWNSCALE) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=True)


def seam_losses(cam1: torch.Tensor, rv1: torch.Tensor, cam2: torch.Tensor, rv2: torch.Tensor,
                label: torch.Tensor) -> Dict[str, torch.Tensor]:
    """The four SEAM terms from the outputs of the full view (1) and the 0.3x view (2).

    Returns ``cls`` (multilabel soft margin on GAP of the raw CAMs, both views averaged, plus the
    averaged adaptive-min-pooling terms on the PCM maps), ``er`` (L1 between the max-normed CAMs of
    both views at view 2's size) and ``ecr`` (mean of the top 20 % of |one-hot other-view CAM - PCM map|,
    both directions summed). ``total`` = cls + er + ecr.
    """
    fg_label = label[:, 1:]
    loss_cls = (F.multilabel_soft_margin_loss(F.adaptive_avg_pool2d(cam1, 1)[:, 1:].flatten(1), fg_label.flatten(1))
                + F.multilabel_soft_margin_loss(F.adaptive_avg_pool2d(cam2, 1)[:, 1:].flatten(1),
                                                fg_label.flatten(1))) / 2
    loss_min = (adaptive_min_pooling_loss((rv1 * label)[:, 1:]) + adaptive_min_pooling_loss((rv2 * label)[:, 1:])) / 2
    c1 = downscale(max_norm(cam1)) * label
    r1 = downscale(max_norm(rv1)) * label
    c2 = max_norm(cam2) * label
    r2 = max_norm(rv2) * label
    loss_er = torch.mean(torch.abs(c1[:, 1:] - c2[:, 1:]))
    n, ch, hs, ws = c2.shape
    k = int(ch * hs * ws * ECR_TOP_FRACTION)
    ecr1 = torch.abs(max_onehot(with_background(c2).detach()) - r1)
    ecr2 = torch.abs(max_onehot(with_background(c1).detach()) - r2)
    loss_ecr = (torch.topk(ecr1.reshape(n, -1), k=k, dim=-1).values.mean()
                + torch.topk(ecr2.reshape(n, -1), k=k, dim=-1).values.mean())
    loss_cls = loss_cls + loss_min
    return {"total": loss_cls + loss_er + loss_ecr, "cls": loss_cls, "er": loss_er, "ecr": loss_ecr}

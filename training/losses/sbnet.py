"""SBNet's boundary (BD) and edge-aware smoothness losses (Carlisle-Liu/SBNet ``train_SB.py``,
``smoothness/__init__.py``; sbnet.md 7).

``boundary`` B: [N, 21, H, W] per-class semantic boundary maps in [0, 1] (channel 0 background);
``label``: [N, 21, 1, 1] with the background always 1.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

BD_WEIGHT = 0.01          # loss_ct = 0.01 * (bd1 + bd2) / 2
SMOOTH_ALPHA = 10.0       # edge weight exp(-alpha * B)
SMOOTH_FIRST = 10.0       # s1: Sobel terms
SMOOTH_SECOND = 1.0       # s2: Laplacian term
CHARBONNIER_EPS = 1e-3

_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
_SOBEL_Y = ((-1.0, -2.0, -1.0), (0.0, 0.0, 0.0), (1.0, 2.0, 1.0))
_LAPLACE = ((-1.0, -1.0, -1.0), (-1.0, 8.0, -1.0), (-1.0, -1.0, -1.0))


def _depthwise(x: torch.Tensor, kernel) -> torch.Tensor:
    """Per-channel 3x3 cross-correlation with zero padding 1."""
    c = x.shape[1]
    k = torch.tensor(kernel, dtype=x.dtype, device=x.device).expand(c, 1, 3, 3)
    return F.conv2d(x, k, padding=1, groups=c)


def charbonnier(s: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(s * s + CHARBONNIER_EPS ** 2)


def smoothness_loss(prob: torch.Tensor, boundary: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """``get_saliency_smoothness(sigmoid(cam), B, label)``: Charbonnier of the boundary-weighted Sobel and
    Laplacian magnitudes of the class maps, masked by the image label (background included), means over all
    N*21*H*W entries: ``10 * mean(y (rho(|dx P| w) + rho(|dy P| w))) + mean(y rho(|lap P| w))``, w = exp(-10 B)."""
    weight = torch.exp(boundary * (-SMOOTH_ALPHA))
    first = (charbonnier(_depthwise(prob, _SOBEL_X).abs() * weight)
             + charbonnier(_depthwise(prob, _SOBEL_Y).abs() * weight))
    second = charbonnier(_depthwise(prob, _LAPLACE).abs() * weight)
    return SMOOTH_FIRST * torch.mean(first * label) + SMOOTH_SECOND * torch.mean(second * label)


def boundary_loss(edge_logits: torch.Tensor, boundary: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """``BCELoss(sigmoid(edge), B * label)`` (plain BCE on probabilities, log clamped at -100 by PyTorch)."""
    with torch.autocast(device_type=edge_logits.device.type, enabled=False):  # BCE is unsafe under autocast
        prob = torch.sigmoid(edge_logits.float())
        return F.binary_cross_entropy(prob, (boundary * label).float().clamp(0, 1))

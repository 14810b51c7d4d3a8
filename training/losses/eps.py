"""EPS saliency loss (halbielee/EPS ``eps.py`` ``get_eps_loss``; eps.md 6.1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def eps_saliency_loss(cam: torch.Tensor, saliency: torch.Tensor, labels: torch.Tensor, tau: float, lam: float
                      ) -> torch.Tensor:
    """MSE between the saliency map and the saliency estimated from the class maps.

    ``cam``: raw fc8 logits [N, C+1, h, w] with background LAST; ``saliency`` [N, 1, H, W] in [0, 1];
    ``labels`` [N, C] multi-hot. The saliency is resized to (h, w) with legacy ``nearest``. A labelled
    class is a foreground map when the fraction of its confident pixels (P_k > 0.5, detached) inside the
    binarised saliency exceeds ``tau``; otherwise it joins the background set, which always holds the
    background channel. Estimate = lam * sum(P_fg) + (1 - lam) * (1 - sum(P_bg)).
    """
    n, c1, h, w = cam.shape
    c = c1 - 1
    saliency = F.interpolate(saliency.to(cam.dtype), size=(h, w), mode="nearest")
    prob = F.softmax(cam, dim=1)
    fg_conf = torch.round(prob[:, :c].detach())
    overlap = (fg_conf * torch.round(saliency)).flatten(2).sum(-1) / (fg_conf + 1e-4).flatten(2).sum(-1)
    present = labels.to(torch.bool)
    valid = overlap > tau
    fg_sel = (present & valid).to(prob.dtype)
    bg_sel = torch.cat([(present & ~valid).to(prob.dtype), prob.new_ones(n, 1)], dim=1)
    fg_map = (prob[:, :c] * fg_sel[:, :, None, None]).sum(dim=1, keepdim=True)
    bg_map = (prob * bg_sel[:, :, None, None]).sum(dim=1, keepdim=True)
    estimate = fg_map * lam + (1 - bg_map) * (1 - lam)
    return F.mse_loss(estimate, saliency)

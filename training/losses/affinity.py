"""AffinityNet training labels and loss (PSA ``train_aff.py`` / ``voc12/data.py``, identical in SEAM and SBNet;
foundations.md 4.4)."""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
import torch

from wsss_zoo.models.affinity import pair_indices

IGNORE = 255


def hard_affinity_label(la: np.ndarray, ha: np.ndarray) -> np.ndarray:
    """Label grid from the block-averaged la / ha CRF scores (h x w x K each, background first):
    confident foreground from la, confident background from ha, the rest and padding 255."""
    no_score = np.maximum(la.max(-1), ha.max(-1)) < 1e-5
    la_idx = np.argmax(la, axis=-1).astype(np.uint8)
    ha_idx = np.argmax(ha, axis=-1).astype(np.uint8)
    label = la_idx.copy()
    label[la_idx == 0] = IGNORE
    label[ha_idx == 0] = 0
    label[no_score] = IGNORE
    return label


def pair_labels(label: torch.Tensor, radius: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``ExtractAffinityLabelInRadius`` on a batch of label grids [N, h, w]: (bg_pos, fg_pos, neg), each
    float [N, n_offsets, n_from] in the pair order of :func:`wsss_zoo.models.affinity.pair_indices`."""
    n, h, w = label.shape
    ind_from, ind_to = pair_indices(radius, (h, w))
    flat = label.reshape(n, -1).long()
    lab_from = flat[:, torch.from_numpy(ind_from).to(label.device)].unsqueeze(1)
    lab_to = flat[:, torch.from_numpy(ind_to).to(label.device)].view(n, -1, ind_from.size)
    valid = (lab_from < IGNORE) & (lab_to < IGNORE)
    equal = lab_from == lab_to
    bg_pos = equal & (lab_from == 0)
    fg_pos = equal & (lab_from != 0) & valid
    neg = ~equal & valid
    return bg_pos.float(), fg_pos.float(), neg.float()


def affinity_loss(aff: torch.Tensor, bg_pos: torch.Tensor, fg_pos: torch.Tensor, neg: torch.Tensor
                  ) -> Dict[str, torch.Tensor]:
    """``bg/4 + fg/4 + neg/2`` with each term a label-weighted mean of -log(aff) or -log(1 - aff)."""
    aff = aff.float()
    bg = torch.sum(-bg_pos * torch.log(aff + 1e-5)) / (bg_pos.sum() + 1e-5)
    fg = torch.sum(-fg_pos * torch.log(aff + 1e-5)) / (fg_pos.sum() + 1e-5)
    ng = torch.sum(-neg * torch.log(1.0 + 1e-5 - aff)) / (neg.sum() + 1e-5)
    return {"total": bg / 4 + fg / 4 + ng / 2, "bg": bg, "fg": fg, "neg": ng}

"""DeepLab losses: kazuto1011 ``main.py``/DRS ``train.py`` (MSC, labels resized per output) and VainF CE."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

IGNORE = 255


def resize_labels(labels: torch.Tensor, size) -> torch.Tensor:
    """kazuto ``resize_labels``: PIL NEAREST per label map (``nearest-exact`` = PIL's pixel-centre rule)."""
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels.long()
    out = F.interpolate(labels[:, None].float(), size=tuple(size), mode="nearest-exact")
    return out[:, 0].long()


def msc_cross_entropy(outputs: Sequence[torch.Tensor], labels: torch.Tensor,
                      class_vector: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Sum over the MSC outputs [1.0, 0.5, 0.75, max] of CE(logits, labels resized to the logits; ignore 255).

    With ``class_vector`` [N, 21] (background = 1; DRS ``train.py``) each output also adds
    CE(logits, argmax(logits.detach() * class_vector)) -- a product, not a mask, as upstream.
    """
    total = 0.0
    for logit in outputs:
        target = resize_labels(labels, logit.shape[2:])
        loss = F.cross_entropy(logit.float(), target, ignore_index=IGNORE)
        if class_vector is not None:
            pseudo = (logit.detach().float() * class_vector[:, :, None, None]).argmax(dim=1)
            loss = loss + F.cross_entropy(logit.float(), pseudo, ignore_index=IGNORE)
        total = total + loss
    return total

"""IRNet's affinity/displacement loss (jiwoon-ahn/irn ``net/resnet50_irn.AffinityDisplacementLoss`` and
``step/train_irn.py``; labels of ``voc12/dataloader.GetAffinityLabelFromIndices``; foundations.md 6.3-6.4)."""
from __future__ import annotations

from typing import Dict, Tuple

import torch
import torch.nn as nn

from wsss_zoo.pipelines.path_index import PathIndex, edge_to_affinity

TRAIN_RADIUS = 10


def irn_pair_labels(label: torch.Tensor, path_index: PathIndex, num_classes: int = 21
                    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(bg_pos, fg_pos, neg), each float [N, n_dst, n_src], from stride-4 label grids [N, h, w]:
    valid pairs have both labels < ``num_classes`` (21 VOC, 81 COCO)."""
    n = label.shape[0]
    flat = label.reshape(n, -1).long()
    src = torch.from_numpy(path_index.src_indices).to(label.device)
    dst = torch.from_numpy(path_index.dst_indices).to(label.device)
    lab_from = flat[:, src].unsqueeze(1)
    lab_to = flat[:, dst.reshape(-1)].view(n, *dst.shape)
    valid = (lab_from < num_classes) & (lab_to < num_classes)
    pos = (lab_from == lab_to) & valid
    bg_pos = pos & (lab_from == 0)
    fg_pos = pos & (lab_from > 0)
    neg = (lab_from != lab_to) & valid
    return bg_pos.float(), fg_pos.float(), neg.float()


class AffinityDisplacementLoss(nn.Module):
    """Per-pair terms of IRN's loss for the network outputs (edge logits, displacement) on a fixed grid."""

    def __init__(self, path_index: PathIndex):
        super().__init__()
        self.path_index = path_index
        for i, ind in enumerate(path_index.path_indices):
            self.register_buffer(f"path_indices{i}", torch.from_numpy(ind), persistent=False)
        dst = torch.from_numpy(path_index.search_dst).float().t()  # (2, n_dst)
        self.register_buffer("disp_target", dst[None, :, :, None], persistent=False)

    def path_index_tensors(self):
        return [getattr(self, f"path_indices{i}") for i in range(len(self.path_index.path_indices))]

    def pair_displacement(self, disp: torch.Tensor) -> torch.Tensor:
        """D(src) - D(src + offset) for every offset: [N, 2, n_dst, n_src]."""
        rf = self.path_index.radius_floor
        ch, cw = disp.shape[2] - rf, disp.shape[3] - 2 * rf
        src = disp[:, :, :ch, rf:rf + cw]
        dst = torch.stack([disp[:, :, dy:dy + ch, rf + dx:rf + dx + cw] for dy, dx in self.path_index.search_dst], 2)
        return (src.unsqueeze(2) - dst).flatten(3)

    def forward(self, edge_logits: torch.Tensor, disp: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        aff = edge_to_affinity(torch.sigmoid(edge_logits.float()), self.path_index_tensors())
        pos = -torch.log(aff + 1e-5)
        neg = -torch.log(1.0 + 1e-5 - aff)
        pair = self.pair_displacement(disp.float())
        return pos, neg, torch.abs(pair - self.disp_target), torch.abs(pair)


def irn_total_loss(terms, bg_pos: torch.Tensor, fg_pos: torch.Tensor, neg: torch.Tensor) -> Dict[str, torch.Tensor]:
    """``train_irn.py``: (pos + neg)/2 + (dp_fg + dp_bg)/2 with label-normalised means."""
    pos_aff, neg_aff, dp_fg, dp_bg = terms
    bg = torch.sum(bg_pos * pos_aff) / (bg_pos.sum() + 1e-5)
    fg = torch.sum(fg_pos * pos_aff) / (fg_pos.sum() + 1e-5)
    pos = bg / 2 + fg / 2
    ng = torch.sum(neg * neg_aff) / (neg.sum() + 1e-5)
    dfg = torch.sum(dp_fg * fg_pos.unsqueeze(1)) / (2 * fg_pos.sum() + 1e-5)
    dbg = torch.sum(dp_bg * bg_pos.unsqueeze(1)) / (2 * bg_pos.sum() + 1e-5)
    total = (pos + ng) / 2 + (dfg + dbg) / 2
    return {"total": total, "pos": pos, "neg": ng, "dp_fg": dfg, "dp_bg": dbg}

"""Pixel-label stages: AffinityNet, IRNet, the DRS refinement network, DeepLab-V2 (kazuto1011 / DRS fork)
and DeepLab-V3+ (VainF / DRS fork)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from wsss_zoo.classes import num_classes
from wsss_zoo.pipelines.path_index import PathIndex

from ..data.dense import (AffinityData, IrLabelData, KazutoSegmentationData, LocalizationMapData, TopLeftCropData,
                          VainFSegmentationData)
from ..data.sources import items_of, open_dataset
from ..distributed import mean_over_ranks
from ..losses.affinity import affinity_loss, pair_labels
from ..losses.deeplab import IGNORE, msc_cross_entropy
from ..losses.irn import TRAIN_RADIUS, AffinityDisplacementLoss, irn_pair_labels, irn_total_loss
from .base import Task, register_task


@register_task("affinity")
class AffinityTask(Task):
    """PSA/SEAM/SBNet ``train_aff.py``: pair affinities within radius 5 on the stride-8 grid against the
    la/ha CRF labels; ``bg/4 + fg/4 + neg/2``."""

    smoke_data = {"crop": 96}

    def dataset(self):
        la, ha = self.input_dir("crf_la", ".npy"), self.input_dir("crf_ha", ".npy")
        return AffinityData(self.items(), la, ha, self.params,
                            pad_black=self.cfg.quirk("aff_pad_black"))

    def compute(self, net, batch):
        aff = net(batch["img"])
        label = batch["aff_label"]
        bg, fg, neg = pair_labels(label, net.radius_for(tuple(label.shape[1:])))
        return affinity_loss(aff, bg, fg, neg)


@register_task("irn")
class IrnTask(Task):
    """IRN ``train_irn.py``: class-boundary + displacement losses on the IR labels (PathIndex radius 10 on
    the stride-4 grid of the crop); then the mean displacement over ``mean_shift_split`` (top-left crops)."""

    smoke_data = {"crop": 96, "rescale": (2.5, 3.5)}  # the test images are ~25 px
    frozen = ("resnet50.",)  # every backbone tap is detached

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        grid = self.params["crop"] // 4
        self.path_index = PathIndex(TRAIN_RADIUS, (grid, grid))
        self._loss = None

    def dataset(self):
        return IrLabelData(self.items(), self.recipe.dataset, self.params, self.input_dir("ir_labels", ".png"))

    def compute(self, net, batch):
        if self._loss is None:
            self._loss = AffinityDisplacementLoss(self.path_index).to(batch["img"].device)
        edge, dp = net(batch["img"])
        bg, fg, neg = irn_pair_labels(batch["ir_label"], self.path_index, num_classes(self.recipe.dataset) + 1)
        return irn_total_loss(self._loss(edge, dp), bg, fg, neg)

    def finalize(self, model):
        """``train_irn.py`` tail: eval mode, mean of the displacement over top-left crops, per batch then
        over batches (drop_last), stored in ``mean_shift.running_mean``."""
        c = self.cfg
        split = self.params.get("mean_shift_split", "train")
        reader = open_dataset(self.recipe.dataset, voc_root=c.voc_root, coco_root=c.coco_root, split=split,
                              coco_layout=self.params.get("coco_layout", c.coco_layout))
        items = items_of(reader)[self.ctx.rank::self.ctx.world_size]
        loader = DataLoader(TopLeftCropData(items, params=self.params), batch_size=self.per_rank_batch(),
                            drop_last=len(items) >= self.per_rank_batch(), num_workers=self.cfg.workers)
        model.eval()
        means = []
        with torch.no_grad():
            for batch in loader:
                _, dp = model(batch["img"].to(self.ctx.device))
                means.append(dp.float().mean(dim=(0, 2, 3)).cpu())
        local = torch.stack(means).mean(0) if means else torch.zeros(2)
        merged = mean_over_ranks(self.ctx, {"dy": float(local[0]), "dx": float(local[1])})
        model.mean_shift.running_mean.copy_(torch.tensor([merged["dy"], merged["dx"]]))
        self.train_mode(model)
        return {"mean_shift": [merged["dy"], merged["dx"]], "mean_shift_images": len(items) * self.ctx.world_size}


@register_task("drs_refine")
class DrsRefineTask(Task):
    """DRS ``train_refine.py``: MSE between the raw refinement output and the arg-max-masked localisation
    maps of the classifier (Adam, no weight decay)."""

    smoke_data = {"size": 64}

    def dataset(self):
        return LocalizationMapData(self.items(), self.recipe.dataset, self.params, self.input_dir("loc_maps", ".npy"))

    def compute(self, net, batch):
        loss = F.mse_loss(net(batch["img"]), batch["target"])
        return {"total": loss, "mse": loss}


@register_task("deeplabv2")
class DeepLabV2Task(Task):
    """kazuto1011 ``main.py train`` / DRS ``train.py``: CE over the four MSC outputs (BN frozen), plus DRS's
    CE against the class-masked online argmax when ``loss.drs_extra``."""

    smoke_data = {"crop": 64}

    def dataset(self):
        return KazutoSegmentationData(self.items(), self.recipe.dataset, self.params, self.input_dir("labels", ".png"))

    def compute(self, net, batch):
        cls = batch["cls_vector"] if self.loss_cfg.get("drs_extra") else None
        loss = msc_cross_entropy(net(batch["img"]), batch["seg_label"], cls)
        return {"total": loss, "ce": loss}


@register_task("deeplabv3plus")
class DeepLabV3PlusTask(Task):
    """VainF ``main.py``: CE (ignore 255) on logits upsampled to the crop; BN trains."""

    smoke_data = {"crop": 64}

    def dataset(self):
        pad = 0 if self.cfg.quirk("label_pad_background") else IGNORE
        return VainFSegmentationData(self.items(), self.input_dir("labels", ".png"), self.params, label_pad=pad)

    def compute(self, net, batch):
        loss = F.cross_entropy(net(batch["img"]).float(), batch["seg_label"].long(), ignore_index=IGNORE)
        return {"total": loss, "ce": loss}

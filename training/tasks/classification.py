"""Image-label stages: multi-label classifiers (IRN/CDA/RIB ResNet-50, PSA/EPS-Base ResNet-38, DRS VGG-16),
EPS, SEAM (also CDA's) and SBNet's SB stage."""
from __future__ import annotations

import importlib.util
import warnings
from typing import Dict

import torch
import torch.nn.functional as F

from wsss_zoo.errors import ConfigError

from ..data.classification import BoundaryData, ClassificationData, InstanceBank, SaliencyData
from ..losses.eps import eps_saliency_loss
from ..losses.sbnet import BD_WEIGHT, boundary_loss, smoothness_loss
from ..losses.seam import downscale, seam_losses
from .base import Task, register_task

IRN_DETACHED = ("resnet50.layer1.", "resnet50.layer2.")  # resnet50_cam Net.forward detaches after stage 2


def _bank(task: Task):
    """CDA's object bank when the recipe pastes (``data.paste``), else None."""
    if not task.params.get("paste"):
        return None
    from wsss_zoo.classes import num_classes

    return InstanceBank(task.input_dir("bank"), num_classes(task.recipe.dataset))


def _with_pasted(batch: dict, key: str = "img"):
    """CDA ``aug_step/train_cam.py``: the batch of originals followed by their pasted copies."""
    if "aug_img" not in batch:
        return batch[key], batch["label"]
    return torch.cat([batch[key], batch["aug_img"]]), torch.cat([batch["label"], batch["aug_label"]]).float()


def _seam_label(label: torch.Tensor) -> torch.Tensor:
    """[N, C] -> [N, C+1, 1, 1] with the background (channel 0) always 1."""
    return torch.cat([torch.ones_like(label[:, :1]), label], dim=1)[:, :, None, None]


@register_task("classify")
class ClassifyTask(Task):
    """Multi-label soft-margin loss on the network's training logits (upstream ``train_cam.py`` /
    ``train_cls.py`` / EPS ``train_cls``), optionally on CDA's [originals; pasted copies] batch."""

    smoke_data = {"resize_long": (48, 80), "crop": 64, "resize": 72}

    @property
    def frozen(self):
        return IRN_DETACHED if self.builder == "resnet50_irn_cam" else ()

    def dataset(self):
        return ClassificationData(self.items(), self.recipe.dataset, self.params["pipeline"], self.params, _bank(self))

    def compute(self, net, batch) -> Dict[str, torch.Tensor]:
        x, label = _with_pasted(batch)
        loss = F.multilabel_soft_margin_loss(net(x), label)
        return {"total": loss, "cls": loss}


@register_task("eps")
class EpsTask(Task):
    """EPS ``train_eps``: soft-margin loss on the foreground GAP logits + the saliency loss (eps.md 6.1)."""

    smoke_data = {"resize_long": (48, 80), "crop": 64}

    def dataset(self):
        reader = self.reader
        reader.set_saliency_dir(self.cfg.inputs.get("saliency"))
        items = self.items()
        return SaliencyData(items, self.recipe.dataset, [str(reader.saliency_path(i.id)) for i in items], self.params)

    def compute(self, net, batch):
        pred, cam = net(batch["img"])
        label = batch["label"]
        cls = F.multilabel_soft_margin_loss(pred[:, :-1], label)
        sal = eps_saliency_loss(cam, batch["saliency"], label, self.loss_cfg["tau"], self.loss_cfg["lam"])
        return {"total": cls + sal, "cls": cls, "sal": sal}


@register_task("seam")
class SeamTask(Task):
    """SEAM ``train_SEAM.py``: the full view and its 0.3x copy through the network, cls + ER + ECR
    (+ CDA's pasted copies in the batch for ``cda_seam_voc``)."""

    smoke_data = {"resize_long": (48, 80), "crop": 64}

    def dataset(self):
        return ClassificationData(self.items(), self.recipe.dataset, "psa", self.params, _bank(self))

    def compute(self, net, batch):
        x, label = _with_pasted(batch)
        label = _seam_label(label)
        cam1, rv1 = net(x)
        cam2, rv2 = net(downscale(x))
        return seam_losses(cam1, rv1, cam2, rv2, label)


@register_task("sbnet")
class SbnetTask(Task):
    """SBNet ``train_SB.py``: SEAM's losses + 0.01 x the boundary BCE + the edge-aware smoothness of
    sigmoid(CAM), on both views (sbnet.md 7)."""

    smoke_data = {"resize_long": (48, 80), "crop": 64}

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.zero_canny = importlib.util.find_spec("cv2") is None
        if self.zero_canny and not cfg.smoke:
            raise ConfigError("SBNet's boundary branch feeds OpenCV's Canny edges of the input: "
                              "pip install opencv-python-headless (the 'train' extra)")
        if self.zero_canny:
            warnings.warn("OpenCV is not installed: this smoke run feeds an all-zero Canny map", stacklevel=2)

    def dataset(self):
        return BoundaryData(self.items(), self.recipe.dataset, self.params, self.input_dir("boundary", ".npy"))

    def _forward(self, net, x):
        canny = x.new_zeros(x.shape[0], 1, *x.shape[2:]) if self.zero_canny else None
        return net(x, canny=canny)

    def compute(self, net, batch):
        x, label, bmap = batch["img"], _seam_label(batch["label"]), batch["boundary"]
        bd_weight = self.loss_cfg.get("bd_weight", BD_WEIGHT)
        cam1, rv1, edge1 = self._forward(net, x)
        x2, bmap2 = downscale(x), downscale(bmap)
        cam2, rv2, edge2 = self._forward(net, x2)
        out = seam_losses(cam1, rv1, cam2, rv2, label)
        out["bd"] = bd_weight * 0.5 * (boundary_loss(edge1, bmap, label) + boundary_loss(edge2, bmap2, label))
        out["smooth"] = 0.5 * (smoothness_loss(torch.sigmoid(cam1), bmap, label)
                               + smoothness_loss(torch.sigmoid(cam2), bmap2, label))
        out["total"] = out["total"] + out["bd"] + out["smooth"]
        return out

"""IRN's ResNet-50 networks: the CAM classifier (CDA, RIB) and the EdgeDisplacement network (IRNet).

Reproduces jiwoon-ahn/irn ``net/resnet50.py``, ``net/resnet50_cam.py`` and ``net/resnet50_irn.py``
(CDA copies them unchanged; RIB adds an 80-class option and a raw-logit CAM forward):

* ResNet-50 = torchvision's module (same keys, v1.5 bottleneck with the stride on conv2) with
  layer4's stride set to 1 **without dilation** (output stride 16) and every BatchNorm frozen
  (:class:`FixedBatchNorm`: running statistics in train mode too); no avgpool / fc;
* state-dict keys are the upstream canonical ones (``resnet50.*``, ``classifier.weight``,
  ``fc_edge*``, ``fc_dp*``, ``mean_shift.running_mean``); the alias sets upstream also writes
  (``stage*``, ``backbone.*``, ``newly_added.*``, ``edge_layers.*``, ``dp_layers.*``,
  ``fc_dp7.4.*``) are folded by the ``irn_cam`` / ``irn_edge`` layout rules at the end of this module.
"""
from __future__ import annotations

import contextlib
import threading
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..convert import collapse_aliases, drop_keys, register_layout
from ..errors import CheckpointFormatError
from ..registry import models
from ._factory import register_model


class FixedBatchNorm(nn.BatchNorm2d):
    """BatchNorm that always normalises with its running statistics (IRN ``FixedBatchNorm``).

    The affine weight and bias stay trainable; statistics are never updated.
    """

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=False, eps=self.eps)


def resnet50_os16() -> nn.Module:
    """torchvision ResNet-50 with FixedBatchNorm, layer4 stride 1 (no dilation), no avgpool/fc.

    Same modules and keys as IRN ``resnet50(strides=(2, 2, 2, 1))``; weights are left at
    torchvision's random initialisation (checkpoints overwrite them).
    """
    from torchvision.models import resnet50

    net = resnet50(weights=None, norm_layer=FixedBatchNorm)
    net.layer4[0].conv2.stride = (1, 1)
    net.layer4[0].downsample[0].stride = (1, 1)
    del net.avgpool, net.fc
    return net


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d):
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    weight = (conv.weight * scale.view(-1, 1, 1, 1)).contiguous(memory_format=torch.channels_last)
    return weight, bn.bias - bn.running_mean * scale


def _conv_bn(x: torch.Tensor, conv: nn.Conv2d, bn: nn.BatchNorm2d, cache: Optional[dict]) -> torch.Tensor:
    """``bn(conv(x))`` with the frozen BatchNorm folded into the convolution (same values up to rounding)."""
    folded = cache.get(conv) if cache is not None else None
    if folded is None:
        folded = _fold(conv, bn)
        if cache is not None:
            cache[conv] = folded
    return F.conv2d(x, folded[0], folded[1], conv.stride, conv.padding, conv.dilation, conv.groups)


def _bottleneck_folded(block: nn.Module, x: torch.Tensor, cache) -> torch.Tensor:
    out = _conv_bn(x, block.conv1, block.bn1, cache).relu_()
    out = _conv_bn(out, block.conv2, block.bn2, cache).relu_()
    out = _conv_bn(out, block.conv3, block.bn3, cache)
    shortcut = x if block.downsample is None else _conv_bn(x, block.downsample[0], block.downsample[1], cache)
    return out.add_(shortcut).relu_()


_FOLDING = threading.local()  # per thread: id(resnet) -> {conv: (weight, bias)}


@contextlib.contextmanager
def folded_batchnorm(resnet: nn.Module):
    """Within the block, inference passes fold each BatchNorm into its convolution once, not per pass."""
    caches = _FOLDING.__dict__.setdefault("caches", {})
    owner = id(resnet) not in caches
    if owner:
        caches[id(resnet)] = {}
    try:
        yield
    finally:
        if owner:
            del caches[id(resnet)]


def run_stage(resnet: nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
    """One stage of the backbone (``stem`` = conv1, bn1, relu, maxpool; or ``layer1``..``layer4``).

    Without autograd (inference) the frozen BatchNorms are folded into the convolutions, which saves
    the BatchNorm passes (about a fifth of the CPU time; see :func:`folded_batchnorm`); with autograd
    the modules run as they are.
    """
    fold = not torch.is_grad_enabled()
    cache = getattr(_FOLDING, "caches", {}).get(id(resnet))
    if name == "stem":
        x = _conv_bn(x, resnet.conv1, resnet.bn1, cache) if fold else resnet.bn1(resnet.conv1(x))
        return resnet.maxpool(resnet.relu(x))
    layer = getattr(resnet, name)
    if not fold:
        return layer(x)
    for block in layer:
        x = _bottleneck_folded(block, x, cache)
    return x


def _freeze_stem(resnet: nn.Module):
    """IRN ``Net.train``: conv1 and bn1 never train."""
    for module in (resnet.conv1, resnet.bn1):
        for p in module.parameters():
            p.requires_grad_(False)


class ResNet50Cam(nn.Module):
    """IRN's CAM classifier: ResNet-50 (OS16) + bias-free 1x1 classifier over ``num_classes`` classes.

    * ``forward(x)``: training logits (N, C) = classifier(GAP(features)), with the stage-2 output
      detached (upstream ``Net.forward``: stem, layer1 and layer2 receive no gradient);
    * ``cam_logits(x)``: raw per-pixel logits (N, C, h/16, w/16) (RIB ``CAM.forward``); IRN's CAM map
      is ``relu`` of it, with the flip pair summed (see :mod:`wsss_zoo.pipelines.irn`).
    """

    def __init__(self, num_classes: int = 20):
        super().__init__()
        self.num_classes = int(num_classes)
        self.resnet50 = resnet50_os16()
        self.classifier = nn.Conv2d(2048, self.num_classes, 1, bias=False)
        _freeze_stem(self.resnet50)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """layer4 features (N, 2048, ceil(H/16), ceil(W/16)); gradients stop below layer3."""
        r = self.resnet50
        x = run_stage(r, "layer2", run_stage(r, "layer1", run_stage(r, "stem", x))).detach()
        return run_stage(r, "layer4", run_stage(r, "layer3", x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.features(x).mean(dim=(2, 3), keepdim=True)
        return self.classifier(pooled).flatten(1)

    def cam_logits(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.features(x), self.classifier.weight)

    def train(self, mode: bool = True):
        """Sets the mode and keeps conv1/bn1 frozen (upstream's override does only the latter and
        returns None; BN is fixed, so the flag changes nothing in the outputs)."""
        super().train(mode)
        _freeze_stem(self.resnet50)
        return self

    def backbone_parameters(self) -> List[nn.Parameter]:
        return list(self.resnet50.parameters())

    def trainable_parameters(self) -> Tuple[List[nn.Parameter], List[nn.Parameter]]:
        """(backbone, newly added) parameter groups, as upstream (lr and 10x lr in training)."""
        return self.backbone_parameters(), list(self.classifier.parameters())


class MeanShift(nn.Module):
    """Subtracts the learned mean displacement in eval mode; identity in train mode (IRN ``MeanShift``)."""

    def __init__(self, num_features: int = 2):
        super().__init__()
        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        if self.training:
            return x
        return x - self.running_mean.view(1, -1, 1, 1)


def _head(c_in: int, c_out: int, groups: int, upsample: Optional[int] = None) -> nn.Sequential:
    """1x1 conv (no bias) -> GroupNorm -> [bilinear upsample] -> ReLU, with upstream's indices."""
    layers = [nn.Conv2d(c_in, c_out, 1, bias=False), nn.GroupNorm(groups, c_out)]
    if upsample:
        layers.append(nn.Upsample(scale_factor=upsample, mode="bilinear", align_corners=False))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ResNet50IrnEdge(nn.Module):
    """IRNet: frozen ResNet-50 (OS16) with the class-boundary and displacement branches.

    ``forward(x)`` returns (edge logits (N, 1, h4, w4), displacement (N, 2, h4, w4)) as upstream
    ``Net.forward``; :meth:`edge_displacement` is the inference wrapper ``EdgeDisplacement``.
    """

    def __init__(self):
        super().__init__()
        self.resnet50 = resnet50_os16()
        self.mean_shift = MeanShift(2)
        self.fc_edge1 = _head(64, 32, 4)
        self.fc_edge2 = _head(256, 32, 4)
        self.fc_edge3 = _head(512, 32, 4, upsample=2)
        self.fc_edge4 = _head(1024, 32, 4, upsample=4)
        self.fc_edge5 = _head(2048, 32, 4, upsample=4)
        self.fc_edge6 = nn.Conv2d(160, 1, 1, bias=True)
        self.fc_dp1 = _head(64, 64, 8)
        self.fc_dp2 = _head(256, 128, 16)
        self.fc_dp3 = _head(512, 256, 16)
        self.fc_dp4 = _head(1024, 256, 16, upsample=2)
        self.fc_dp5 = _head(2048, 256, 16, upsample=2)
        self.fc_dp6 = _head(768, 256, 16, upsample=2)
        # upstream fc_dp7 = [conv, GN, ReLU, conv, mean_shift]; mean_shift is applied in forward
        self.fc_dp7 = nn.Sequential(nn.Conv2d(448, 256, 1, bias=False), nn.GroupNorm(16, 256),
                                    nn.ReLU(inplace=True), nn.Conv2d(256, 2, 1, bias=False))
        self.resnet50.eval()

    @property
    def edge_layers(self) -> List[nn.Module]:
        return [self.fc_edge1, self.fc_edge2, self.fc_edge3, self.fc_edge4, self.fc_edge5, self.fc_edge6]

    @property
    def dp_layers(self) -> List[nn.Module]:
        return [self.fc_dp1, self.fc_dp2, self.fc_dp3, self.fc_dp4, self.fc_dp5, self.fc_dp6, self.fc_dp7]

    def taps(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Detached backbone outputs x1..x5 (strides 4, 4, 8, 16, 16): the backbone never trains."""
        r = self.resnet50
        x1 = run_stage(r, "stem", x).detach()
        x2 = run_stage(r, "layer1", x1).detach()
        x3 = run_stage(r, "layer2", x2).detach()
        x4 = run_stage(r, "layer3", x3).detach()
        x5 = run_stage(r, "layer4", x4).detach()
        return x1, x2, x3, x4, x5

    def edge_logits(self, taps) -> torch.Tensor:
        x1, x2, x3, x4, x5 = taps
        e2 = self.fc_edge2(x2)
        h, w = e2.shape[-2:]
        edges = [self.fc_edge1(x1), e2, self.fc_edge3(x3)[..., :h, :w], self.fc_edge4(x4)[..., :h, :w],
                 self.fc_edge5(x5)[..., :h, :w]]
        return self.fc_edge6(torch.cat(edges, dim=1))

    def displacement(self, taps) -> torch.Tensor:
        x1, x2, x3, x4, x5 = taps
        dp2 = self.fc_dp2(x2)
        dp3 = self.fc_dp3(x3)
        h, w = dp3.shape[-2:]
        dp_up3 = self.fc_dp6(torch.cat([dp3, self.fc_dp4(x4)[..., :h, :w], self.fc_dp5(x5)[..., :h, :w]], dim=1))
        dp_up3 = dp_up3[..., :dp2.shape[-2], :dp2.shape[-1]]
        return self.mean_shift(self.fc_dp7(torch.cat([self.fc_dp1(x1), dp2, dp_up3], dim=1)))

    def forward(self, x: torch.Tensor):
        taps = self.taps(x)
        return self.edge_logits(taps), self.displacement(taps)

    def edge_displacement(self, pair: torch.Tensor, crop_size: Optional[int] = 512, with_displacement: bool = True):
        """Upstream ``EdgeDisplacement.forward`` on the (image, h-flipped image) batch of 2.

        Pads right/bottom with 0 (normalised space) to ``crop_size`` (VOC; ``None`` = no padding, RIB's
        COCO path), runs the net, crops to (ceil(H/4), ceil(W/4)) and returns
        ``edge = sigmoid((logit + flip(logit_flipped)) / 2)`` (1, h, w) and the unflipped displacement
        (2, h, w) (None when ``with_displacement`` is False). Inputs larger than ``crop_size`` are not
        cropped (upstream would crash on them); they are simply not padded in that dimension.
        """
        height, width = pair.shape[-2:]
        feat = ((height - 1) // 4 + 1, (width - 1) // 4 + 1)
        if crop_size:
            pair = F.pad(pair, [0, max(0, crop_size - width), 0, max(0, crop_size - height)])
        taps = self.taps(pair.contiguous(memory_format=torch.channels_last))  # same values, faster on CPU
        logits = self.edge_logits(taps)[..., :feat[0], :feat[1]].float()  # float32 after an autocast forward
        edge = torch.sigmoid(logits[0] / 2 + logits[1].flip(-1) / 2)
        dp = self.displacement(taps)[0, :, :feat[0], :feat[1]].float() if with_displacement else None
        return edge, dp

    def train(self, mode: bool = True):
        """Heads follow ``mode`` (MeanShift is the identity in train mode); the backbone stays in eval."""
        super().train(mode)
        self.resnet50.eval()
        return self

    def trainable_parameters(self) -> Tuple[List[nn.Parameter], List[nn.Parameter]]:
        """(edge-branch, displacement-branch) parameters, as upstream (lr and 10x lr in training)."""
        edge = [p for m in self.edge_layers for p in m.parameters()]
        dp = [p for m in self.dp_layers for p in m.parameters()]
        return edge, dp


@register_model("resnet50_irn_cam")
def resnet50_irn_cam(num_classes: int = 20) -> ResNet50Cam:
    return ResNet50Cam(num_classes=num_classes)


@register_model("resnet50_irn_edge")
def resnet50_irn_edge() -> ResNet50IrnEdge:
    return ResNet50IrnEdge()


# ----------------------------------------------------------------------------- checkpoint layouts
# Layouts of the IRN-family ResNet-50 checkpoints (CDA and RIB releases, user-trained IRNets).
#
# Both files are raw state dicts saved from modules that register the same submodules under several
# names, so every tensor appears under all of them (shared storage):
#
# * ``irn_cam`` -- ``net/resnet50_cam.Net`` / ``CAM`` (CDA "ResNet-50 for IRnet" CAM, RIB VOC/COCO
#   classifiers): 956 keys = ``resnet50.*`` (318) + ``stage1..4.*`` (318) + ``classifier.weight`` +
#   ``backbone.0..3.*`` (318) + ``newly_added.0.weight``;
# * ``irn_edge`` -- ``net/resnet50_irn.AffinityDisplacementLoss`` (CDA "Pseudo Mask / ResNet-50 for
#   IRnet", the IRNet that RIB users train): 1056 keys = the training-only buffers ``path_indices0..19``
#   and ``disp_target``, then ``resnet50.*``, ``stage1..5.*``, ``mean_shift.running_mean``,
#   ``fc_edge1..6.*``, ``fc_dp1..7.*`` (``fc_dp7.4`` is the mean shift), ``backbone.0..4.*``,
#   ``edge_layers.0..5.*``, ``dp_layers.0..6.*``. An ``EdgeDisplacement`` state dict (1035 keys) is the
#   same without the 21 buffers.
#
# The rules fold every alias onto the canonical key (checking equal values where both are present),
# drop the training buffers and the always-zero BatchNorm ``num_batches_tracked`` counters.

_BN_COUNTERS = (r"(^|\.)num_batches_tracked$",)
_IRN_BUFFERS = (r"^path_indices\d+$", r"^disp_target$")

# stage module -> resnet50 submodule, per network (upstream Sequential indices)
_CAM_STAGES = {"stage1.0.": "conv1.", "stage1.1.": "bn1.", "stage1.4.": "layer1.",
               "stage2.0.": "layer2.", "stage3.0.": "layer3.", "stage4.0.": "layer4."}
_EDGE_STAGES = {"stage1.0.": "conv1.", "stage1.1.": "bn1.", "stage2.0.": "layer1.",
                "stage3.0.": "layer2.", "stage4.0.": "layer3.", "stage5.0.": "layer4."}


def _stage_aliases(stages: dict):
    """``stageK.i.`` and ``backbone.(K-1).i.`` -> ``resnet50.<module>.``."""
    aliases = []
    for stage, module in stages.items():
        number, rest = stage[len("stage"):].split(".", 1)
        canon = "resnet50." + module
        aliases.append((stage, canon))
        aliases.append((f"backbone.{int(number) - 1}.{rest}", canon))
    return aliases


CAM_ALIASES = tuple(_stage_aliases(_CAM_STAGES) + [("newly_added.0.", "classifier.")])
EDGE_ALIASES = tuple(
    _stage_aliases(_EDGE_STAGES)
    + [("fc_dp7.4.", "mean_shift."), ("dp_layers.6.4.", "mean_shift.")]
    + [(f"edge_layers.{i}.", f"fc_edge{i + 1}.") for i in range(6)]
    + [(f"dp_layers.{i}.", f"fc_dp{i + 1}.") for i in range(7)])

CAM_SIGNATURE = ("resnet50.conv1.weight", "resnet50.layer4.2.conv3.weight", "classifier.weight")
EDGE_SIGNATURE = ("resnet50.conv1.weight", "fc_edge6.weight", "fc_dp7.3.weight")


def _is_edge_file(sd) -> bool:
    return any(k.startswith(("fc_edge", "edge_layers.", "fc_dp", "dp_layers.")) for k in sd)


def _is_cam_file(sd) -> bool:
    return any(k.startswith(("classifier.", "newly_added.")) for k in sd) and not _is_edge_file(sd)


def _models_with_layout(layout: str) -> str:
    names = [e.name for e in models() if e.layout == layout]
    return ", ".join(names) or layout


def _fold_aliases(sd, aliases, drops, other_family: bool, other_layout: str, what: str):
    """Refuse a file of the other IRN network, drop ``drops``, fold ``aliases`` onto canonical keys."""
    if other_family:
        raise CheckpointFormatError(
            f"this file holds {what}: load it as {_models_with_layout(other_layout)} "
            f"(or pass it as the '{'irn' if other_layout == 'irn_edge' else 'cam'}' role of a pipeline)")
    return collapse_aliases(drop_keys(sd, drops), aliases)


@register_layout("irn_cam", signature=CAM_SIGNATURE)
def convert_irn_cam(sd):
    """IRN/CDA/RIB ResNet-50 CAM classifier (``res50_cam.pth``, 956 keys -> 266 tensors)."""
    return _fold_aliases(sd, CAM_ALIASES, _BN_COUNTERS, _is_edge_file(sd), "irn_edge",
                 "an IRNet (EdgeDisplacement: fc_edge*/fc_dp* keys), not a CAM classifier")


@register_layout("irn_edge", signature=EDGE_SIGNATURE)
def convert_irn_edge(sd):
    """IRNet ``AffinityDisplacementLoss`` / ``EdgeDisplacement`` (``res50_irn.pth``, 1056 or 1035 keys -> 358 tensors)."""
    return _fold_aliases(sd, EDGE_ALIASES, _BN_COUNTERS + _IRN_BUFFERS, _is_cam_file(sd), "irn_cam",
                 "a ResNet-50 CAM classifier (classifier.weight), not an IRNet")

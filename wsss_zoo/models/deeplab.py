"""DeepLab segmentation networks: V2 ResNet-101 MSC and the V1 COCO-init container (kazuto1011/deeplab-pytorch,
also vendored in qjadud1994/DRS ``DeepLab-V2-PyTorch``), and V3+ ResNet-101 (VainF/DeepLabV3Plus-Pytorch).

Module and parameter names equal upstream's, so the published state dicts load without renaming:
``base.layer2.block1.reduce.conv.weight`` (V2), ``layer1.conv1.conv.weight`` + ``fc.*`` (V1 init),
``backbone.layer4.2.conv3.weight`` / ``classifier.aspp.convs.4.1.weight`` (V3+).
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import Bottleneck, ResNet
from torchvision.models.segmentation.deeplabv3 import ASPP

from ..convert import add_prefix, register_layout
from ..errors import CheckpointFormatError, CheckpointMismatchError, ConfigError
from ._factory import register_model

RESNET101_BLOCKS = (3, 4, 23, 3)


# ----------------------------------------------------------------------------- DeepLab-V2 (caffe ResNet)
class ConvBnReLU(nn.Sequential):
    """kazuto ``_ConvBnReLU``: children ``conv`` (no bias), ``bn`` (eps 1e-5) and optionally ``relu``.

    Upstream writes the Caffe momentum 0.999 (DRS) or 1 - 0.999 (kazuto); BN is always frozen there, so
    we keep the PyTorch-convention 0.001 of kazuto's file.
    """

    def __init__(self, cin, cout, kernel, stride, padding, dilation, relu=True):
        super().__init__()
        self.add_module("conv", nn.Conv2d(cin, cout, kernel, stride, padding, dilation, bias=False))
        self.add_module("bn", nn.BatchNorm2d(cout, eps=1e-5, momentum=1 - 0.999))
        if relu:
            self.add_module("relu", nn.ReLU())


class CaffeBottleneck(nn.Module):
    """kazuto ``_Bottleneck`` (MSRA style): the stride sits on the 1x1 ``reduce``; ReLU after the sum."""

    def __init__(self, cin, cout, stride, dilation, downsample):
        super().__init__()
        mid = cout // 4
        self.reduce = ConvBnReLU(cin, mid, 1, stride, 0, 1, True)
        self.conv3x3 = ConvBnReLU(mid, mid, 3, 1, dilation, dilation, True)
        self.increase = ConvBnReLU(mid, cout, 1, 1, 0, 1, False)
        self.shortcut = ConvBnReLU(cin, cout, 1, stride, 0, 1, False) if downsample else nn.Identity()

    def forward(self, x):
        h = self.increase(self.conv3x3(self.reduce(x)))
        return F.relu(h + self.shortcut(x))


class ResLayer(nn.Sequential):
    """kazuto ``_ResLayer``: ``block1`` carries the stride and (always) a projection shortcut."""

    def __init__(self, n_blocks, cin, cout, stride, dilation):
        super().__init__()
        for i in range(n_blocks):
            self.add_module(f"block{i + 1}", CaffeBottleneck(cin if i == 0 else cout, cout,
                                                             stride if i == 0 else 1, dilation, i == 0))


class Stem(nn.Sequential):
    """kazuto ``_Stem``: 7x7/2 conv-BN-ReLU, then 3x3/2 max pool with ceil_mode=True."""

    def __init__(self, cout=64):
        super().__init__()
        self.add_module("conv1", ConvBnReLU(3, cout, 7, 2, 3, 1))
        self.add_module("pool", nn.MaxPool2d(3, 2, 1, ceil_mode=True))


def _dilated_resnet_layers(module: nn.Sequential, n_blocks: Sequence[int]):
    """layer1 (stem) .. layer5 of the output-stride-8 ResNet shared by DeepLab V1 and V2."""
    ch = [64 * 2 ** p for p in range(6)]
    module.add_module("layer1", Stem(ch[0]))
    module.add_module("layer2", ResLayer(n_blocks[0], ch[0], ch[2], 1, 1))
    module.add_module("layer3", ResLayer(n_blocks[1], ch[2], ch[3], 2, 1))
    module.add_module("layer4", ResLayer(n_blocks[2], ch[3], ch[4], 1, 2))
    module.add_module("layer5", ResLayer(n_blocks[3], ch[4], ch[5], 1, 4))


class ASPPSum(nn.Module):
    """kazuto ``_ASPP``: parallel 3x3 convs ``c0..c3`` (with bias, padding = dilation = rate), summed."""

    def __init__(self, cin, num_classes, rates):
        super().__init__()
        for i, rate in enumerate(rates):
            conv = nn.Conv2d(cin, num_classes, 3, 1, padding=rate, dilation=rate, bias=True)
            nn.init.normal_(conv.weight, mean=0, std=0.01)
            nn.init.constant_(conv.bias, 0)
            self.add_module(f"c{i}", conv)

    def forward(self, x):
        return sum(stage(x) for stage in self.children())


def _freeze_bn(module: nn.Module):
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


class DeepLabV2(nn.Sequential):
    """kazuto ``DeepLabV2``: dilated caffe ResNet (output stride 8) + summed ASPP; logits at stride 8."""

    def __init__(self, num_classes=21, n_blocks=RESNET101_BLOCKS, atrous_rates=(6, 12, 18, 24)):
        super().__init__()
        _dilated_resnet_layers(self, n_blocks)
        self.add_module("aspp", ASPPSum(2048, num_classes, atrous_rates))


class MSC(nn.Module):
    """kazuto ``MSC``: ``base`` on the input and on bilinear rescales (``scale_factor=p``, align_corners=False).

    Pyramid logits are resized to the full-scale logits' size and max-fused. Training returns
    ``[logits_1.0, logits_p..., logits_max]`` (each at its own resolution but the last), eval returns
    ``logits_max`` at stride 8. BN stays in eval mode in training too (``freeze_bn``), as upstream's
    ``train.py`` does after ``model.train()``.
    """

    def __init__(self, base: nn.Module, scales=(0.5, 0.75), freeze_bn: bool = True):
        super().__init__()
        self.base = base
        self.scales = tuple(scales)
        self.freeze_bn = freeze_bn

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.freeze_bn:
            _freeze_bn(self)
        return self

    def forward(self, x):
        logits = self.base(x)
        size = logits.shape[2:]
        pyramid = [self.base(F.interpolate(x, scale_factor=p, mode="bilinear", align_corners=False))
                   for p in self.scales]
        resized = [F.interpolate(p, size=size, mode="bilinear", align_corners=False) for p in pyramid]
        logits_max = torch.max(torch.stack([logits] + resized), dim=0)[0]
        if self.training:
            return [logits] + pyramid + [logits_max]
        return logits_max

    def get_parameter_groups(self) -> Dict[str, List[nn.Parameter]]:
        """kazuto ``main.get_params``: '1x' every parameter of the Conv2d modules under ``layer*`` (lr,
        wd 5e-4), '10x' ASPP weights (10 lr), '20x' ASPP biases (20 lr, no weight decay). BN affine
        parameters are in no group: they stay frozen."""
        groups: Dict[str, List[nn.Parameter]] = {"1x": [], "10x": [], "20x": []}
        for name, m in self.named_modules():
            if not isinstance(m, nn.Conv2d):
                continue
            if "layer" in name:
                groups["1x"].extend(m.parameters())
            if "aspp" in name:
                groups["10x"].append(m.weight)
                groups["20x"].append(m.bias)
        return groups


class DeepLabV1(nn.Sequential):
    """kazuto ``DeepLabV1``: the container of the COCO-pretrained init ``deeplabv1_resnet101-coco.pth``
    (dilated caffe ResNet-101 + 1x1 ``fc``). Training copies its trunk into ``MSC.base`` with
    :func:`load_coco_init`."""

    def __init__(self, num_classes=91, n_blocks=RESNET101_BLOCKS):
        super().__init__()
        _dilated_resnet_layers(self, n_blocks)
        self.add_module("fc", nn.Conv2d(2048, num_classes, 1))


def load_coco_init(model: MSC, init_state_dict) -> MSC:
    """Upstream ``model.base.load_state_dict(coco_init, strict=False)``: copy the trunk, keep the ASPP init.

    Raises when a trunk tensor of the network is missing from the init (a wrong file), unlike upstream.
    """
    trunk = {k: v for k, v in init_state_dict.items() if k.startswith("layer")}
    result = model.base.load_state_dict(trunk, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("aspp.") and not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise CheckpointMismatchError(
            f"the COCO init does not fit DeepLab-V2's trunk: missing {missing[:5]}, unexpected "
            f"{result.unexpected_keys[:5]}", missing, result.unexpected_keys)
    return model


# ----------------------------------------------------------------------------- DeepLab-V3+ (VainF)
class ResNetBackbone(ResNet):
    """torchvision ResNet (v1.5, stride on the 3x3) without ``avgpool``/``fc``, returning the VainF
    ``IntermediateLayerGetter`` outputs ``{'low_level': layer1, 'out': layer4}``. VainF's
    ``network/backbone/resnet.py`` is a copy of this class; names and numbers are the same."""

    def __init__(self, layers=RESNET101_BLOCKS, replace_stride_with_dilation=(False, False, True)):
        super().__init__(Bottleneck, list(layers), replace_stride_with_dilation=list(replace_stride_with_dilation))
        del self.avgpool, self.fc

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        low_level = self.layer1(x)
        out = self.layer4(self.layer3(self.layer2(low_level)))
        return {"low_level": low_level, "out": out}


class DeepLabHeadV3Plus(nn.Module):
    """VainF ``DeepLabHeadV3Plus``: ASPP (torchvision's, with VainF's dropout 0.1) on the stride-16 features,
    upsampled (align_corners=False) to the 48-channel low-level projection, then 3x3 conv + 1x1 classifier."""

    def __init__(self, in_channels=2048, low_level_channels=256, num_classes=21, aspp_dilate=(6, 12, 18)):
        super().__init__()
        self.project = nn.Sequential(nn.Conv2d(low_level_channels, 48, 1, bias=False), nn.BatchNorm2d(48),
                                     nn.ReLU(inplace=True))
        self.aspp = ASPP(in_channels, list(aspp_dilate), 256)
        self.aspp.project[3] = nn.Dropout(0.1)
        self.classifier = nn.Sequential(nn.Conv2d(304, 256, 3, padding=1, bias=False), nn.BatchNorm2d(256),
                                        nn.ReLU(inplace=True), nn.Conv2d(256, num_classes, 1))
        for m in self.modules():  # VainF _init_weight
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, feature):
        low = self.project(feature["low_level"])
        out = self.aspp(feature["out"])
        out = F.interpolate(out, size=low.shape[2:], mode="bilinear", align_corners=False)
        return self.classifier(torch.cat([low, out], dim=1))


class DeepLabV3Plus(nn.Module):
    """VainF ``DeepLabV3`` (``_SimpleSegmentationModel``) with the V3+ head: logits upsampled to the input
    size (bilinear, align_corners=False). BN trains normally; evaluate in eval mode."""

    def __init__(self, num_classes=21, output_stride=16, layers=RESNET101_BLOCKS):
        super().__init__()
        if output_stride not in (8, 16):
            raise ConfigError(f"output_stride must be 8 or 16, got {output_stride}")
        dilate, rates = ((False, True, True), (12, 24, 36)) if output_stride == 8 else ((False, False, True), (6, 12, 18))
        self.output_stride = output_stride
        self.backbone = ResNetBackbone(layers, dilate)
        for m in self.backbone.modules():  # VainF utils.set_bn_momentum(model.backbone, 0.01)
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.01
        self.classifier = DeepLabHeadV3Plus(2048, 256, num_classes, rates)

    def forward(self, x):
        out = self.classifier(self.backbone(x))
        return F.interpolate(out, size=x.shape[2:], mode="bilinear", align_corners=False)

    def get_parameter_groups(self) -> Dict[str, List[nn.Parameter]]:
        """VainF ``main.py``: backbone at 0.1 x lr, classifier at lr (both SGD momentum 0.9, wd 1e-4)."""
        return {"backbone": list(self.backbone.parameters()), "classifier": list(self.classifier.parameters())}


# ----------------------------------------------------------------------------- builders
@register_model("deeplabv2_resnet101_msc")
def deeplabv2_resnet101_msc(num_classes: int = 21, n_blocks=RESNET101_BLOCKS, atrous_rates=(6, 12, 18, 24),
                            scales=(0.5, 0.75)) -> MSC:
    """kazuto ``DeepLabV2_ResNet101_MSC``: MSC(DeepLabV2(ResNet-101, ASPP 6/12/18/24), scales 0.5, 0.75)."""
    return MSC(DeepLabV2(num_classes, n_blocks, atrous_rates), scales)


@register_model("deeplabv1_resnet101")
def deeplabv1_resnet101(num_classes: int = 91, n_blocks=RESNET101_BLOCKS) -> DeepLabV1:
    """kazuto ``DeepLabV1_ResNet101``: container of the COCO init (91 classes)."""
    return DeepLabV1(num_classes, n_blocks)


@register_model("deeplabv3plus_resnet101")
def deeplabv3plus_resnet101(num_classes: int = 21, output_stride: int = 16, layers=RESNET101_BLOCKS) -> DeepLabV3Plus:
    """VainF ``deeplabv3plus_resnet101`` (OS16: ASPP 6/12/18; OS8: 12/24/36)."""
    return DeepLabV3Plus(num_classes, output_stride, layers)


# ----------------------------------------------------------------------------- checkpoint layouts
# Layouts of the DeepLab checkpoints: kazuto1011 V2 MSC (DRS, SBNet), the V1 COCO init, VainF V3+ (DRS).
#
# * ``deeplabv2_msc`` -- raw ``model.module.state_dict()`` of ``DeepLabV2_ResNet101_MSC``: 632 ``base.*`` keys
#   including ``num_batches_tracked`` (``Deeplabv2_pseudo_segmentation_labels.pth``);
# * ``deeplabv1_coco_init`` -- raw state dict of ``DeepLabV1_ResNet101(91)`` from ``convert.py``: 626 keys,
#   trunk ``layer*`` + ``fc.*`` (``deeplabv1_resnet101-coco.pth``);
# * ``vainf_deeplabv3plus`` -- ``{'model_state': ..., 'best_score': numpy float64, ...}`` from VainF
#   ``main.py`` / ``eval.py``: 674 ``backbone.*`` / ``classifier.*`` keys
#   (``Deeplabv3_pseudo_segmentation_labels.pth``).
#
# Our modules use the upstream names, so the rules only check the family and add a missing ``base.``.

@register_layout("deeplabv2_msc", signature=("base.layer1.conv1.conv.weight", "base.aspp.c0.weight"))
def convert_deeplabv2_msc(sd):
    """kazuto1011 ``DeepLabV2_ResNet101_MSC`` state dict (``base.`` prefix; a bare DeepLabV2 gets one)."""
    if "aspp.c0.weight" in sd and not any(k.startswith("base.") for k in sd):
        sd = add_prefix(sd, "base.")
    if "fc.weight" in sd or "layer1.conv1.conv.weight" in sd:
        raise CheckpointFormatError(
            "this is the DeepLab-V1 COCO init (deeplabv1_resnet101-coco.pth: trunk + 'fc'), not a trained "
            "DeepLab-V2: load it as 'deeplabv1_resnet101_coco'")
    return sd


@register_layout("deeplabv1_coco_init", signature=("layer1.conv1.conv.weight", "fc.weight"))
def convert_deeplabv1_coco_init(sd):
    """kazuto1011 ``DeepLabV1_ResNet101`` (COCO init): keys used as they are."""
    return sd


@register_layout("vainf_deeplabv3plus",
                 signature=("backbone.conv1.weight", "classifier.project.0.weight", "classifier.classifier.3.weight"))
def convert_vainf_deeplabv3plus(sd):
    """VainF ``deeplabv3plus_resnet101`` ``model_state`` (no ``module.`` prefix; OS 8 and 16 share keys)."""
    if any(k.startswith("classifier.classifier.0.convs.") for k in sd):
        raise CheckpointFormatError(
            "this is a VainF DeepLabV3 (not V3+) checkpoint ('classifier.classifier.0.convs.*' keys); "
            "wsss_zoo only ships the V3+ head DRS published")
    if any(".body." in k for k in sd if k.startswith("classifier.")):
        raise CheckpointFormatError(
            "this V3+ checkpoint was trained with --separable_conv ('*.body.*' keys), which no published "
            "model uses; convert its head to plain convs before loading")
    return sd

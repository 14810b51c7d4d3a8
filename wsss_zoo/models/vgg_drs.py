"""VGG-16 "D1" with Discriminative Region Suppression, and the DRS refinement network.

Reproduces qjadud1994/DRS ``models/vgg.py`` (classifier, ``vgg16(delta)``) and
``models/vgg_refine.py`` (refinement network). Both share the trunk built by upstream's
``make_layers(cfg['D1'])``: VGG-16 convs with pool4 at stride 1 (3x3, pad 1) and conv5 dilated by 2,
so the output stride is 8.

Our parameter names are upstream's named attributes (``layer1_conv1.weight``, ``layer1_relu1.fc.0.weight``,
``extra_conv4.weight``); upstream also stores every trunk conv under its ``features.N`` index, an
alias that the ``drs_vgg`` layout rules below fold away using :data:`FEATURES_INDEX`.
"""
from __future__ import annotations

import math
import re
from collections import OrderedDict
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..convert import collapse_aliases, register_layout
from ..errors import CheckpointFormatError
from ._factory import register_model

# (stage, conv widths, conv dilation, pooling after the stage): upstream cfg 'D1'
# [64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, N, 512, 512, 512]
TRUNK_STAGES: Tuple[Tuple[str, Tuple[int, ...], int, Optional[str]], ...] = (
    ("layer1", (64, 64), 1, "2x2"),
    ("layer2", (128, 128), 1, "2x2"),
    ("layer3", (256, 256, 256), 1, "2x2"),
    ("layer4", (512, 512, 512), 1, "3x3s1"),
    ("layer5", (512, 512, 512), 2, None),
)
HEAD_WIDTH = 512


def _features_index() -> Dict[str, int]:
    """Index of each trunk conv inside upstream's ``features`` Sequential (conv, ReLU, ..., pool)."""
    index, pos = {}, 0
    for stage, widths, _, pool in TRUNK_STAGES:
        for k in range(1, len(widths) + 1):
            index[f"{stage}_conv{k}"] = pos
            pos += 2  # conv + its ReLU
        pos += 1 if pool else 0
    return index


FEATURES_INDEX: Dict[str, int] = _features_index()  # {'layer1_conv1': 0, ..., 'layer5_conv3': 28}


class LearnableDRS(nn.Module):
    """Learnable DRS module (upstream ``DRS_learnable``): ReLU, then ``min(x, max_hw(x) * sigmoid(W avg_hw(x)))``."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, channels, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        x = F.relu(x)
        peak = F.adaptive_max_pool2d(x, 1)  # max extractor
        control = self.fc(F.adaptive_avg_pool2d(x, 1).view(b, c)).view(b, c, 1, 1)  # suppression controller
        return torch.min(x, peak * control)  # suppressor


class FixedDRS(nn.Module):
    """Non-learnable DRS module (upstream ``DRS(delta)``): ReLU, then ``min(x, delta * max_hw(x))``."""

    def __init__(self, delta: float):
        super().__init__()
        self.delta = float(delta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        return torch.min(x, F.adaptive_max_pool2d(x, 1) * self.delta)


def normalize_cam(class_map: torch.Tensor, size, label: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Upstream ``VGG.cam_normalize``: ReLU, bilinear (align_corners=True) to ``size``, / (max + 1e-5), x label."""
    cam = F.interpolate(F.relu(class_map), size=tuple(size), mode="bilinear", align_corners=True)
    cam = cam / (F.adaptive_max_pool2d(cam, 1) + 1e-5)
    if label is not None:
        cam = cam * label[:, :, None, None]
    return cam


_POOLS = {"2x2": lambda: nn.MaxPool2d(kernel_size=2, stride=2),
          "3x3s1": lambda: nn.MaxPool2d(kernel_size=3, stride=1, padding=1)}


class _VGG16D1(nn.Module):
    """The shared trunk; ``activation(channels)`` builds the module that follows each trunk conv."""

    def __init__(self, activation: Callable[[int], nn.Module]):
        super().__init__()
        cin = 3
        for stage, widths, dilation, pool in TRUNK_STAGES:
            for k, cout in enumerate(widths, start=1):
                setattr(self, f"{stage}_conv{k}", nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation))
                setattr(self, f"{stage}_relu{k}", activation(cout))
                cin = cout
            if pool:
                setattr(self, f"{stage}_maxpool", _POOLS[pool]())

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """conv1_1 ... conv5_3 with their activations and pools (stride 8)."""
        for stage, widths, _, pool in TRUNK_STAGES:
            for k in range(1, len(widths) + 1):
                x = getattr(self, f"{stage}_relu{k}")(getattr(self, f"{stage}_conv{k}")(x))
            if pool:
                x = getattr(self, f"{stage}_maxpool")(x)
        return x


def _drs_module(delta: float) -> Callable[[int], nn.Module]:
    return (lambda c: LearnableDRS(c)) if delta == 0 else (lambda c: FixedDRS(delta))


class VGG16DRS(_VGG16D1):
    """DRS classifier: VGG-16 D1 trunk and three extra 3x3 convs, each conv followed by a DRS module,
    then a 1x1 class-score conv whose global average is the logit (upstream ``models/vgg.py`` ``VGG``).

    ``delta == 0`` selects the learnable DRS (the published ``DRS_learnable.pth``), ``delta > 0`` the
    fixed one. There is no BN and no dropout: train and eval modes compute the same function.
    """

    def __init__(self, num_classes: int = 20, delta: float = 0.0, init_weights: bool = True):
        drs = _drs_module(float(delta))
        super().__init__(drs)
        self.delta = float(delta)
        self.num_classes = num_classes
        for k in (1, 2, 3):
            setattr(self, f"extra_conv{k}", nn.Conv2d(HEAD_WIDTH, HEAD_WIDTH, 3, padding=1))
            setattr(self, f"extra_relu{k}", drs(HEAD_WIDTH))
        self.extra_conv4 = nn.Conv2d(HEAD_WIDTH, num_classes, 1)
        if init_weights:
            self.init_head_weights()

    def init_head_weights(self):
        """Upstream ``_initialize_weights`` on the extra convs and every DRS module: conv weights
        N(0, sqrt(2 / (k*k*out_channels))) and zero bias; controller Linear N(0, 0.01). The trunk is meant
        to come from ImageNet VGG-16 (:func:`imagenet_vgg16_trunk`)."""
        for k in (1, 2, 3, 4):
            conv = getattr(self, f"extra_conv{k}")
            n = conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels
            nn.init.normal_(conv.weight, 0.0, math.sqrt(2.0 / n))
            nn.init.zeros_(conv.bias)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)

    def class_map(self, x: torch.Tensor) -> torch.Tensor:
        """The extra_conv4 output [B, C, h, w] (stride 8): the class-score map behind the CAMs."""
        x = self.trunk(x)
        for k in (1, 2, 3):
            x = getattr(self, f"extra_relu{k}")(getattr(self, f"extra_conv{k}")(x))
        return self.extra_conv4(x)

    def forward(self, x: torch.Tensor, label: Optional[torch.Tensor] = None, size=None):
        """Upstream signature: logits [B, C] when ``label`` is None (training), else ``(logits, cam)`` with
        ``cam = normalize_cam(class_map, size or input size, label)``."""
        size = tuple(x.shape[2:]) if size is None else tuple(size)
        score = self.class_map(x)
        logits = F.avg_pool2d(score, kernel_size=tuple(score.shape[2:])).flatten(1)
        if label is None:
            return logits
        return logits, normalize_cam(score.detach(), size, label)

    def get_parameter_groups(self) -> Tuple[list, list, list, list]:
        """Upstream ``get_parameter_groups``: (trunk weights, trunk biases, extra + DRS-controller weights,
        extra biases), trained at lr x1, x2, x10, x20 (the substring 'fc' puts the controllers at x10)."""
        groups: Tuple[list, list, list, list] = ([], [], [], [])
        for name, value in self.named_parameters():
            head = "extra" in name or "fc" in name
            groups[(2 if head else 0) + (0 if "weight" in name else 1)].append(value)
        return groups


class VGG16DRSRefine(_VGG16D1):
    """DRS refinement network (upstream ``models/vgg_refine.py``): plain ReLU trunk, three extra 3x3 convs
    with ReLU and a 1x1 regression head; the output is bilinearly upsampled (align_corners=True) and
    returned raw (no sigmoid, no normalisation), multiplied by the image label when given."""

    def __init__(self, num_classes: int = 20, init_weights: bool = True):
        super().__init__(lambda c: nn.ReLU(inplace=True))
        self.num_classes = num_classes
        for k in (1, 2, 3):
            setattr(self, f"extra_conv{k}", nn.Conv2d(HEAD_WIDTH, HEAD_WIDTH, 3, padding=1))
        self.extra_conv4 = nn.Conv2d(HEAD_WIDTH, num_classes, 1)
        self.activation = nn.ReLU()
        if init_weights:
            for k in (1, 2, 3, 4):  # upstream: N(0, 0.01), zero bias
                conv = getattr(self, f"extra_conv{k}")
                nn.init.normal_(conv.weight, 0.0, 0.01)
                nn.init.zeros_(conv.bias)

    def regression_map(self, x: torch.Tensor) -> torch.Tensor:
        """The extra_conv4 output [B, C, h, w] at stride 8, before upsampling."""
        x = self.trunk(x)
        for k in (1, 2, 3):
            x = self.activation(getattr(self, f"extra_conv{k}")(x))
        return self.extra_conv4(x)

    def forward(self, x: torch.Tensor, label: Optional[torch.Tensor] = None, size=None) -> torch.Tensor:
        """Upstream signature: the map upsampled to ``size`` (default: the input size), x label if given.
        Training calls it without label (MSE against the masked localisation maps)."""
        size = tuple(x.shape[2:]) if size is None else tuple(size)
        out = F.interpolate(self.regression_map(x), size=size, mode="bilinear", align_corners=True)
        if label is not None:
            out = out * label[:, :, None, None]
        return out


@register_model("vgg16_drs")
def vgg16_drs(num_classes: int = 20, delta: float = 0.0, **kwargs) -> VGG16DRS:
    """DRS classifier; ``delta=0`` is the learnable DRS of ``DRS_learnable.pth``."""
    return VGG16DRS(num_classes=num_classes, delta=delta, **kwargs)


@register_model("vgg16_drs_refine")
def vgg16_drs_refine(num_classes: int = 20, **kwargs) -> VGG16DRSRefine:
    """DRS refinement network of ``Refine_DRS_learnable.pth``."""
    return VGG16DRSRefine(num_classes=num_classes, **kwargs)


# ----------------------------------------------------------------------------- checkpoint layouts
# Layouts of the DRS VGG-16 checkpoints (qjadud1994/DRS release assets).
#
# ``DRS_learnable.pth`` and ``Refine_DRS_learnable.pth`` are ``{'model', 'optimizer', 'epoch', 'iter',
# 'miou'}`` dicts written by ``scripts/train_cls.py`` / ``train_refine.py`` (``miou`` is a numpy float64,
# handled by :func:`~wsss_zoo.convert.core.read_checkpoint`). Their ``model`` state dict stores every trunk
# conv twice, as ``features.N.*`` and ``layerX_convY.*`` (shared storage): either set is accepted and
# folded onto ``layerX_convY``.

FEATURES_ALIASES = tuple((f"features.{idx}.", f"{name}.") for name, idx in FEATURES_INDEX.items())
_DRS_CONTROLLER = re.compile(r"(^|\.)(layer\d_relu\d|extra_relu\d)\.fc\.0\.weight$")


def fold_features_aliases(sd):
    """Rename ``features.N.*`` to the ``layerX_convY.*`` attribute names; drop the duplicate when both exist."""
    return collapse_aliases(sd, FEATURES_ALIASES)


@register_layout("drs_vgg", signature=("layer1_relu1.fc.0.weight", "extra_relu3.fc.0.weight", "extra_conv4.weight"))
def convert_drs_vgg(sd):
    """DRS classifier with learnable DRS (``DRS_learnable.pth``, 76 keys -> 50 tensors)."""
    return fold_features_aliases(sd)


@register_layout("drs_vgg_refine", signature=("features.28.weight", "layer5_conv3.weight", "extra_conv4.weight"))
def convert_drs_vgg_refine(sd):
    """DRS refinement network (``Refine_DRS_learnable.pth``, 60 keys -> 34 tensors)."""
    if any(_DRS_CONTROLLER.search(k) for k in sd):
        raise CheckpointFormatError(
            "this file holds the DRS classifier (it has learnable DRS controller keys '*_relu*.fc.0.weight'), "
            "not the refinement network: load it as 'drs_vgg16_voc' (DRS_learnable.pth); the refinement "
            "network is Refine_DRS_learnable.pth")
    return fold_features_aliases(sd)


def imagenet_vgg16_trunk(sd):
    """torchvision ``vgg16-397923af.pth`` -> the 13 trunk convs under our names (training init).

    Upstream loads it with ``strict=False``; the ``classifier.*`` fully connected layers are unused.
    Load the result with ``model.load_state_dict(..., strict=False)``.
    """
    kept = OrderedDict((k, v) for k, v in sd.items() if k.startswith("features."))
    return fold_features_aliases(kept)

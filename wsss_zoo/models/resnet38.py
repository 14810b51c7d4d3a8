"""ResNet-38 ("resnet38d", output stride 8) and its CAM heads: PSA/EPS classifier, EPS, SEAM, SBNet SEAM_BD.

One backbone serves every head (PSA ``network/resnet38d.py``, copied unchanged by SEAM, EPS and SBNet):
a wide pre-activation ResNet whose b5 is dilated by 2 and b6/b7 by 4, BatchNorm always frozen.
The heads differ only by configuration:

* which *taps* (pre-activations of block inputs) the backbone exposes and under which names -- SBNet's
  ``resnet38d`` calls the 2048-channel b7 input ``conv6`` and the final 4096-channel map ``conv7``
  (``TAP_NAMES["sbnet"]``), every other copy calls the final map ``conv6``;
* the head layers registered on top (keys ``fc8``, ``f8_3``, ``f8_4``, ``f9``, ...), named exactly as
  upstream so published state dicts load without renaming.

The training behaviour of upstream is kept: ``forward`` returns the training outputs (GAP logits,
SEAM's ``(cam, cam_rv)``, EPS's ``(logits, cam)``, SEAM_BD's ``(cam, cam_rv, edge)``), ``train()``
freezes ``frozen_modules`` and every BatchNorm (but returns the module, unlike upstream), and
:meth:`ResNet38.get_parameter_groups` gives PolyOptimizer's four groups (new layers at 10x lr).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..convert import drop_keys, register_layout
from ..convert.mxnet import mxnet_to_torch_key
from ._factory import register_model

# tap name -> where it is read: "<block>" = BN+ReLU of that block's input, "out" = ReLU(bn7(b7 output))
TAP_NAMES: Dict[str, Dict[str, str]] = {
    "psa": {"conv4": "b5", "conv5": "b6", "conv6": "out"},                       # PSA, EPS
    "seam": {"conv3": "b4", "conv4": "b5", "conv5": "b6", "conv6": "out"},       # SEAM, SBNet resnet38d_original
    "sbnet": {"conv1": "b2", "conv2": "b3", "conv3": "b4", "conv4": "b5", "conv5": "b6",
              "conv6": "b7", "conv7": "out"},                                    # SBNet network/resnet38d.py
}
# what the heads freeze in train mode (upstream ``not_training``); BatchNorm is always frozen
BACKBONE_FROZEN = ("conv1a",)
HEAD_FROZEN = ("conv1a", "b2", "b2_1", "b2_2")


class PreActBlock(nn.Module):
    """Upstream ``ResBlock``: pre-activation basic block; returns (output, BN+ReLU of the input)."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int, stride: int = 1,
                 first_dilation: Optional[int] = None, dilation: int = 1):
        super().__init__()
        first_dilation = dilation if first_dilation is None else first_dilation
        self.same_shape = in_ch == out_ch and stride == 1
        self.bn_branch2a = nn.BatchNorm2d(in_ch)
        self.conv_branch2a = nn.Conv2d(in_ch, mid_ch, 3, stride, padding=first_dilation,
                                       dilation=first_dilation, bias=False)
        self.bn_branch2b1 = nn.BatchNorm2d(mid_ch)
        self.conv_branch2b1 = nn.Conv2d(mid_ch, out_ch, 3, padding=dilation, dilation=dilation, bias=False)
        if not self.same_shape:
            self.conv_branch1 = nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        pre = F.relu(self.bn_branch2a(x))
        shortcut = x if self.same_shape else self.conv_branch1(pre)
        h = self.conv_branch2b1(F.relu(self.bn_branch2b1(self.conv_branch2a(pre))))
        return shortcut + h, pre


class BottleneckBlock(nn.Module):
    """Upstream ``ResBlock_bot`` (b6, b7): 1x1 - 3x3 dilated - 1x1 with Dropout2d; projection shortcut always."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1, dropout: float = 0.0):
        super().__init__()
        self.bn_branch2a = nn.BatchNorm2d(in_ch)
        self.conv_branch2a = nn.Conv2d(in_ch, out_ch // 4, 1, stride, bias=False)
        self.bn_branch2b1 = nn.BatchNorm2d(out_ch // 4)
        self.dropout_2b1 = nn.Dropout2d(dropout)
        self.conv_branch2b1 = nn.Conv2d(out_ch // 4, out_ch // 2, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn_branch2b2 = nn.BatchNorm2d(out_ch // 2)
        self.dropout_2b2 = nn.Dropout2d(dropout)
        self.conv_branch2b2 = nn.Conv2d(out_ch // 2, out_ch, 1, bias=False)
        self.conv_branch1 = nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        pre = F.relu(self.bn_branch2a(x))
        h = self.dropout_2b1(F.relu(self.bn_branch2b1(self.conv_branch2a(pre))))
        h = self.dropout_2b2(F.relu(self.bn_branch2b2(self.conv_branch2b1(h))))
        return self.conv_branch1(pre) + self.conv_branch2b2(h), pre


# (name, in, mid, out, stride, first_dilation, dilation) of the basic blocks, in forward order
_BASIC_BLOCKS = (
    ("b2", 64, 128, 128, 2, None, 1), ("b2_1", 128, 128, 128, 1, None, 1), ("b2_2", 128, 128, 128, 1, None, 1),
    ("b3", 128, 256, 256, 2, None, 1), ("b3_1", 256, 256, 256, 1, None, 1), ("b3_2", 256, 256, 256, 1, None, 1),
    ("b4", 256, 512, 512, 2, None, 1),
    *((f"b4_{i}", 512, 512, 512, 1, None, 1) for i in range(1, 6)),
    ("b5", 512, 512, 1024, 1, 1, 2), ("b5_1", 1024, 512, 1024, 1, None, 2), ("b5_2", 1024, 512, 1024, 1, None, 2),
)
BLOCK_ORDER = tuple(b[0] for b in _BASIC_BLOCKS) + ("b6", "b7")


class ResNet38(nn.Module):
    """The ResNet-38 backbone (PSA ``resnet38d.Net``): 228 state-dict keys, output stride 8.

    ``taps`` selects the tap naming of :data:`TAP_NAMES` ("psa", "seam" or "sbnet").
    :meth:`forward_as_dict` returns the taps; :meth:`forward` returns tap ``conv6`` as upstream does
    (the 4096-channel map, except under SBNet naming where it is the 2048-channel b7 input).
    """

    frozen_modules: Tuple[str, ...] = BACKBONE_FROZEN
    from_scratch_layers: Tuple[str, ...] = ()

    def __init__(self, taps: str = "psa"):
        super().__init__()
        if taps not in TAP_NAMES:
            raise ValueError(f"taps must be one of {sorted(TAP_NAMES)}, got {taps!r}")
        self.tap_names = dict(TAP_NAMES[taps])
        self.conv1a = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        for name, cin, mid, cout, stride, first, dil in _BASIC_BLOCKS:
            setattr(self, name, PreActBlock(cin, mid, cout, stride, first, dil))
        self.b6 = BottleneckBlock(1024, 2048, dilation=4, dropout=0.3)
        self.b7 = BottleneckBlock(2048, 4096, dilation=4, dropout=0.5)
        self.bn7 = nn.BatchNorm2d(4096)

    # ------------------------------------------------------------------------------------ forward
    def forward_as_dict(self, x: torch.Tensor, taps: Optional[Iterable[str]] = None) -> Dict[str, torch.Tensor]:
        """Feature taps by name (all of this network's taps, or only ``taps``)."""
        wanted = self.tap_names if taps is None else {t: self.tap_names[t] for t in taps}
        by_source = {src: name for name, src in wanted.items()}
        out: Dict[str, torch.Tensor] = {}
        x = self.conv1a(x)
        for block in BLOCK_ORDER:
            x, pre = getattr(self, block)(x)
            if block in by_source:
                out[by_source[block]] = pre
        if "out" in by_source:
            out[by_source["out"]] = F.relu(self.bn7(x))
        return out

    def final_features(self, x: torch.Tensor) -> torch.Tensor:
        """ReLU(bn7(b7(x))): the 4096-channel stride-8 map every head classifies."""
        name = next(n for n, src in self.tap_names.items() if src == "out")
        return self.forward_as_dict(x, (name,))[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_as_dict(x, ("conv6",))["conv6"]

    # ------------------------------------------------------------------------------------ training
    def train(self, mode: bool = True):
        """Upstream ``train`` override: freeze ``frozen_modules`` and every BatchNorm; returns self."""
        super().train(mode)
        for name in self.frozen_modules:
            for p in getattr(self, name).parameters():
                p.requires_grad = False
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
                m.weight.requires_grad = False
                m.bias.requires_grad = False
        return self

    def get_parameter_groups(self) -> Tuple[list, list, list, list]:
        """PolyOptimizer groups: (weights, biases, new-layer weights, new-layer biases) of every Conv2d.

        Upstream builds them before ``train()`` freezes anything, so frozen conv weights are listed
        too (they never receive a gradient); BatchNorm parameters are in no group.
        """
        scratch = {id(getattr(self, n)) for n in self.from_scratch_layers}
        groups = ([], [], [], [])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                new = id(m) in scratch
                groups[2 if new else 0].append(m.weight)
                if m.bias is not None:
                    groups[3 if new else 1].append(m.bias)
        return groups


def _init_new_conv(conv: nn.Conv2d, kind: str) -> nn.Conv2d:
    if kind == "xavier":
        nn.init.xavier_uniform_(conv.weight)
    elif kind == "xavier4":
        nn.init.xavier_uniform_(conv.weight, gain=4)
    elif kind == "kaiming":
        nn.init.kaiming_normal_(conv.weight)
    return conv


def conv1x1(cin: int, cout: int, init: str) -> nn.Conv2d:
    """A bias-free 1x1 head conv with upstream's initialisation (``xavier``, ``xavier4`` or ``kaiming``)."""
    return _init_new_conv(nn.Conv2d(cin, cout, 1, bias=False), init)


# ======================================================================================== heads
class ResNet38Cls(ResNet38):
    """PSA ``resnet38_cls.Net`` / EPS Base: ``fc8`` (C, 4096, 1, 1); no background channel."""

    frozen_modules = HEAD_FROZEN
    from_scratch_layers = ("fc8",)

    def __init__(self, num_classes: int = 20):
        super().__init__(taps="psa")
        self.num_classes = num_classes
        self.dropout7 = nn.Dropout2d(0.5)
        self.fc8 = conv1x1(4096, num_classes, "xavier")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Training logits [N, C]: dropout7, global average pooling, fc8."""
        f = self.dropout7(self.final_features(x))
        return self.fc8(F.adaptive_avg_pool2d(f, 1)).flatten(1)

    def forward_cam(self, x: torch.Tensor) -> torch.Tensor:
        """ReLU(fc8 * features), [N, C, h, w] at stride 8 (``forward_cam``)."""
        return F.relu(F.conv2d(self.final_features(x), self.fc8.weight))


class ResNet38Eps(ResNet38):
    """EPS ``resnet38_eps.Net``: ``fc8`` (C+1, 4096, 1, 1), **background the last channel**; no dropout7."""

    frozen_modules = HEAD_FROZEN
    from_scratch_layers = ("fc8",)

    def __init__(self, num_classes: int = 21):
        super().__init__(taps="psa")
        self.num_classes = num_classes
        self.fc8 = conv1x1(4096, num_classes, "xavier")

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Training outputs (GAP logits [N, C+1], raw cam [N, C+1, h, w])."""
        cam = self.forward_cam(x)
        return cam.mean(dim=(2, 3)), cam

    def forward_cam(self, x: torch.Tensor) -> torch.Tensor:
        """Raw fc8 logits at stride 8 (no ReLU, no softmax; inference applies the softmax)."""
        return self.fc8(self.final_features(x))


def pcm_seed(cam: torch.Tensor) -> torch.Tensor:
    """SEAM's PCM seed from raw logits [N, 21, h, w] (background channel 0), without gradient.

    ReLU, per-map division by (max + 1e-5) after ReLU(c - 1e-5); channel 0 := 1 - max foreground;
    foreground values below the per-pixel foreground max are zeroed (``resnet38_SEAM.forward``).
    """
    with torch.no_grad():
        c = F.relu(cam.detach())
        peak = c.flatten(2).max(dim=-1).values[:, :, None, None] + 1e-5
        seed = F.relu(c - 1e-5) / peak
        fg = seed[:, 1:]
        fg_max = fg.max(dim=1, keepdim=True).values
        fg = torch.where(fg < fg_max, torch.zeros_like(fg), fg)
        return torch.cat([1 - fg_max, fg], dim=1)


def pixel_correlation(seed: torch.Tensor, feat: torch.Tensor, chunk_elems: int = 1 << 24) -> torch.Tensor:
    """SEAM's PCM: ``seed @ (ReLU(g^T g) / colsum)`` with g = L2-normalised ``feat`` [N, D, h, w].

    ``cam_rv[:, j] = sum_i seed[:, i] relu(g_i.g_j) / (sum_i relu(g_i.g_j) + 1e-5)``; the hw x hw
    affinity is built in column blocks of at most ``chunk_elems`` entries, so large images do not
    need the whole matrix at once (upstream ``PCM`` materialises it).
    """
    n, c, h, w = seed.shape
    hw = h * w
    g = feat.flatten(2)
    g = g / (torch.norm(g, dim=1, keepdim=True) + 1e-5)
    s = seed.flatten(2)
    step = max(1, chunk_elems // max(hw, 1))
    cols = []
    for start in range(0, hw, step):
        aff = F.relu(torch.matmul(g.transpose(1, 2), g[:, :, start:start + step]))
        aff = aff / (aff.sum(dim=1, keepdim=True) + 1e-5)
        cols.append(torch.matmul(s, aff))
    return torch.cat(cols, dim=2).view(n, c, h, w)


class ResNet38Seam(ResNet38):
    """SEAM ``resnet38_SEAM.Net``: CAM ``fc8`` (21 = background first + 20) and the PCM (f8_3, f8_4, f9).

    ``forward`` returns SEAM's ``(cam, cam_rv)``, both bilinearly upsampled (align_corners=True) to
    the input size. (SBNet's unused ``resnet38_SEAM`` copy returns them swapped; nothing uses it.)
    """

    frozen_modules = HEAD_FROZEN
    from_scratch_layers = ("f8_3", "f8_4", "f9", "fc8")
    cam_tap = "conv6"

    def __init__(self, num_classes: int = 21, taps: str = "seam"):
        super().__init__(taps=taps)
        self.num_classes = num_classes
        self.dropout7 = nn.Dropout2d(0.5)
        self.fc8 = conv1x1(4096, num_classes, "xavier")
        self.f8_3 = conv1x1(512, 64, "kaiming")
        self.f8_4 = conv1x1(1024, 128, "kaiming")
        self.f9 = conv1x1(192 + 3, 192, "xavier4")

    def _cam_and_refined(self, x: torch.Tensor, d: Dict[str, torch.Tensor]):
        """Raw stride-8 logits and the PCM-refined map, both at stride 8."""
        cam = self.fc8(self.dropout7(d[self.cam_tap]))
        h, w = cam.shape[2:]
        f8_3 = F.relu(self.f8_3(d["conv4"].detach()))
        f8_4 = F.relu(self.f8_4(d["conv5"].detach()))
        x_s = F.interpolate(x, (h, w), mode="bilinear", align_corners=True)
        feat = self.f9(torch.cat([x_s, f8_3, f8_4], dim=1))
        return cam, pixel_correlation(pcm_seed(cam), feat)

    def forward(self, x: torch.Tensor):
        d = self.forward_as_dict(x, ("conv4", "conv5", self.cam_tap))
        cam, cam_rv = self._cam_and_refined(x, d)
        size = x.shape[2:]
        return (F.interpolate(cam, size, mode="bilinear", align_corners=True),
                F.interpolate(cam_rv, size, mode="bilinear", align_corners=True))

    def forward_cam_rv(self, x: torch.Tensor, channels: Optional[Sequence[int]] = None) -> torch.Tensor:
        """``cam_rv`` (forward output #1, what infer_SEAM / infer_SB use) at the input size.

        ``channels`` selects output channels before the final upsampling (cheaper, same values).
        """
        d = self.forward_as_dict(x, ("conv4", "conv5", self.cam_tap))
        _, cam_rv = self._cam_and_refined(x, d)
        if channels is not None:
            cam_rv = cam_rv[:, list(channels)]
        return F.interpolate(cam_rv, x.shape[2:], mode="bilinear", align_corners=True)


# ------------------------------------------------------------------------- SBNet boundary branch
class ChannelBias(nn.Module):
    """SBNet ``auxiliary.CA`` as written: adds (not multiplies) a pooled 1x1-conv channel term."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        self.conv_du = nn.Sequential(nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(),
                                     nn.Conv2d(channels // reduction, channels, 1))

    def forward(self, x):
        return x + self.conv_du(F.adaptive_avg_pool2d(x, 1))


class ResidualChannelBlock(nn.Module):
    """SBNet ``auxiliary.RCAB`` (no BN): x + [conv3x3, ReLU, conv3x3, CA](x); keys ``body.{0,2,3}``."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1), ChannelBias(channels, reduction))

    def forward(self, x):
        return self.body(x) + x


class SemanticEdgeModule(nn.Module):
    """SBNet ``auxiliary.Semantic_Edge_Detection_Module``: side outputs of conv1/3/5/6 -> RCAB -> 21 logits."""

    SIDES = (("1", 64), ("3", 256), ("5", 1024), ("6", 2048))

    def __init__(self, mid: int = 32, num_classes: int = 21):
        super().__init__()
        for tag, cin in self.SIDES:
            setattr(self, f"conv{tag}", nn.Conv2d(cin, mid, 1))
        for tag, _ in self.SIDES:
            setattr(self, f"conv8_{tag}", nn.Conv2d(mid, mid, 3, padding=1))
        self.classifier = nn.Conv2d(mid * 4, num_classes, 3, padding=1)
        self.rcab = ResidualChannelBlock(mid * 4)

    def forward(self, taps: Dict[str, torch.Tensor]) -> torch.Tensor:
        size = taps["conv1"].shape[2:]
        sides = []
        for tag, _ in self.SIDES:
            e = F.relu(getattr(self, f"conv8_{tag}")(F.relu(getattr(self, f"conv{tag}")(taps[f"conv{tag}"]))))
            if e.shape[2:] != size:
                e = F.interpolate(e, size, mode="bilinear", align_corners=True)
            sides.append(e)
        return self.classifier(self.rcab(torch.cat(sides, dim=1)))


def canny_on_normalized(x: torch.Tensor, low: float = 10, high: float = 100) -> torch.Tensor:
    """SBNet's bottom-up edge input: OpenCV Canny on the *normalised* input cast to uint8 ([N, 1, H, W]).

    The cast truncates toward zero and wraps modulo 256 (x86 C cast), as ``astype(np.uint8)`` does
    there. Needs OpenCV (``pip install opencv-python-headless``); training only.
    """
    try:
        import cv2
    except ImportError as exc:
        from ..errors import ConfigError

        raise ConfigError("the SBNet boundary branch needs OpenCV's Canny: pip install opencv-python-headless, "
                          "or pass canny=<tensor [N,1,H,W]> to forward") from exc
    arr = x.detach().cpu().numpy().transpose(0, 2, 3, 1)
    arr = np.mod(np.trunc(arr).astype(np.int64), 256).astype(np.uint8)
    edges = np.stack([cv2.Canny(np.ascontiguousarray(a), low, high) for a in arr])[:, None]
    return torch.from_numpy(edges.astype(np.float32)).to(x.device)


class ResNet38SeamBD(ResNet38Seam):
    """SBNet ``resnet38_SEAM_BD.Net``: SEAM on SBNet's tap naming (CAM from ``conv7``) plus the boundary branch.

    ``forward`` returns ``(cam, cam_rv, edge)``; the boundary branch (``edge_layer``,
    ``fuse_canny_edge``) is training-only and skipped by :meth:`forward_cam_rv`. Its layers are not
    new layers for the optimiser (base lr), as upstream.
    """

    cam_tap = "conv7"

    def __init__(self, num_classes: int = 21):
        super().__init__(num_classes, taps="sbnet")
        self.fuse_canny_edge = nn.Conv2d(2 * num_classes, num_classes, 1, bias=False)
        self.edge_layer = SemanticEdgeModule(num_classes=num_classes)

    def forward(self, x: torch.Tensor, canny: Optional[torch.Tensor] = None):
        d = self.forward_as_dict(x, ("conv1", "conv3", "conv4", "conv5", "conv6", "conv7"))
        cam, cam_rv = self._cam_and_refined(x, d)
        size = x.shape[2:]
        cam = F.interpolate(cam, size, mode="bilinear", align_corners=True)
        cam_rv = F.interpolate(cam_rv, size, mode="bilinear", align_corners=True)
        edge = self.edge_layer(d)
        if canny is None:
            canny = canny_on_normalized(x)
        canny = canny.to(edge.dtype).expand(-1, edge.shape[1], -1, -1)
        return cam, cam_rv, self.fuse_canny_edge(torch.cat([edge, canny], dim=1))


# ===================================================================================== builders
@register_model("resnet38d")
def resnet38d(**kwargs) -> ResNet38:
    """Bare backbone (the ImageNet "Model A1" weights in output-stride-8 form)."""
    return ResNet38(**kwargs)


@register_model("resnet38_cls")
def resnet38_cls(num_classes: int = 20) -> ResNet38Cls:
    return ResNet38Cls(num_classes)


@register_model("resnet38_eps")
def resnet38_eps(num_classes: int = 21) -> ResNet38Eps:
    return ResNet38Eps(num_classes)


@register_model("resnet38_seam")
def resnet38_seam(num_classes: int = 21) -> ResNet38Seam:
    return ResNet38Seam(num_classes)


@register_model("resnet38_seam_bd")
def resnet38_seam_bd(num_classes: int = 21) -> ResNet38SeamBD:
    return ResNet38SeamBD(num_classes)


# ----------------------------------------------------------------------------- checkpoint layouts
# Layout rules of the ResNet-38 family (PSA, SEAM, EPS, SBNet, CDA's ResNet-38 rows, ademxapp ImageNet).
#
# Every published ResNet-38 file is a raw ``model.module.state_dict()`` whose keys already equal our
# modules' keys (:mod:`wsss_zoo.models.resnet38`, :mod:`wsss_zoo.models.affinity`); files from
# torch >= 0.4.1 carry 37 ``num_batches_tracked`` counters, torch 0.4.0 / MXNet conversions none.
# So a rule only drops those counters (and, for the ImageNet weights, renames raw ademxapp names).

_COUNTERS = (r"\.num_batches_tracked$",)

# layout -> (signature keys, description); every one of them is the module's own key set
PLAIN_LAYOUTS = {
    "resnet38_cls": (("bn7.running_var", "fc8.weight"),
                     "PSA resnet38_cls / EPS Base: 229 keys (192 without BN counters), fc8 (C, 4096, 1, 1)"),
    "resnet38_eps": (("bn7.running_var", "fc8.weight"),
                     "EPS resnet38_eps: 229 keys, fc8 (C+1, 4096, 1, 1) with background last"),
    "resnet38_seam": (("fc8.weight", "f8_4.weight", "f9.weight"),
                      "SEAM resnet38_SEAM: 232 keys (backbone, fc8 21, f8_3, f8_4, f9 192x195)"),
    "resnet38_seam_bd": (("fc8.weight", "f9.weight", "fuse_canny_edge.weight"),
                         "SBNet resnet38_SEAM_BD: 259 keys (SEAM + fuse_canny_edge + edge_layer)"),
}


def drop_bn_counters(sd):
    """The published state dict minus its ``num_batches_tracked`` counters (always 0: BN is frozen)."""
    return drop_keys(sd, _COUNTERS)


for _name, (_signature, _description) in PLAIN_LAYOUTS.items():
    register_layout(_name, signature=_signature, description=_description)(drop_bn_counters)


@register_layout("mxnet_resnet38", signature=("bn7.running_var", "b7.conv_branch2b2.weight"),
                 description="ademxapp ImageNet ResNet-38 'Model A1' (.params, read without MXNet): 191 keys")
def convert_mxnet_resnet38(sd):
    """Already-renamed tensors pass through; raw ademxapp names (e.g. a torch re-save) are renamed."""
    out = OrderedDict()
    for k, v in drop_bn_counters(sd).items():
        key = k if "." in k else mxnet_to_torch_key(k)
        if key is not None:
            out[key] = v
    return out

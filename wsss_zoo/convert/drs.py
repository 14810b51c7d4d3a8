"""Layouts of the DRS VGG-16 checkpoints (qjadud1994/DRS release assets).

``DRS_learnable.pth`` and ``Refine_DRS_learnable.pth`` are ``{'model', 'optimizer', 'epoch', 'iter',
'miou'}`` dicts written by ``scripts/train_cls.py`` / ``train_refine.py`` (``miou`` is a numpy float64,
handled by :func:`~wsss_zoo.convert.core.read_checkpoint`). Their ``model`` state dict stores every trunk
conv twice, as ``features.N.*`` and ``layerX_convY.*`` (shared storage): either set is accepted and
folded onto ``layerX_convY``.
"""
from __future__ import annotations

import re
from collections import OrderedDict

from ..errors import CheckpointFormatError
from ..models.vgg_drs import FEATURES_INDEX
from .core import collapse_aliases, register_layout

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

"""Layouts of the DeepLab checkpoints: kazuto1011 V2 MSC (DRS, SBNet), the V1 COCO init, VainF V3+ (DRS).

* ``deeplabv2_msc`` -- raw ``model.module.state_dict()`` of ``DeepLabV2_ResNet101_MSC``: 632 ``base.*`` keys
  including ``num_batches_tracked`` (``Deeplabv2_pseudo_segmentation_labels.pth``);
* ``deeplabv1_coco_init`` -- raw state dict of ``DeepLabV1_ResNet101(91)`` from ``convert.py``: 626 keys,
  trunk ``layer*`` + ``fc.*`` (``deeplabv1_resnet101-coco.pth``);
* ``vainf_deeplabv3plus`` -- ``{'model_state': ..., 'best_score': numpy float64, ...}`` from VainF
  ``main.py`` / ``eval.py``: 674 ``backbone.*`` / ``classifier.*`` keys
  (``Deeplabv3_pseudo_segmentation_labels.pth``).

Our modules use the upstream names, so the rules only check the family and add a missing ``base.``.
"""
from __future__ import annotations

from ..errors import CheckpointFormatError
from .core import add_prefix, register_layout


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

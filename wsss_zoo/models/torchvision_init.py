"""torchvision ImageNet networks, the training initialisations of the VGG-16 / ResNet-50 / ResNet-101 models.

Registry entries ``vgg16_imagenet``, ``resnet50_imagenet`` and ``resnet101_imagenet`` (``role: "init"``) name
the files upstream downloaded (``vgg16-397923af.pth``, ``resnet50-19c8e357.pth``, ``resnet101-5d3b4d8f.pth``:
DRS ``models/vgg*.py``, IRN ``net/resnet50.py``, VainF ``network/backbone/resnet.py``). ``wsss_zoo.load`` gives
the torchvision module; training maps the state dict onto each family's keys (``training/inits.py``).
"""
from __future__ import annotations

from ..convert import register_layout
from ._factory import register_model


@register_model("torchvision_vgg16")
def torchvision_vgg16():
    from torchvision.models import vgg16

    return vgg16(weights=None)


@register_model("torchvision_resnet50")
def torchvision_resnet50():
    from torchvision.models import resnet50

    return resnet50(weights=None)


@register_model("torchvision_resnet101")
def torchvision_resnet101():
    from torchvision.models import resnet101

    return resnet101(weights=None)


@register_layout("torchvision", signature=("fc.weight", "layer4.0.conv1.weight"))
def convert_torchvision(sd):
    """torchvision's own keys (the old ResNet files have no ``num_batches_tracked``; loading tolerates that)."""
    return sd


@register_layout("torchvision_vgg", signature=("features.0.weight", "classifier.6.weight"))
def convert_torchvision_vgg(sd):
    """torchvision VGG keys, unchanged."""
    return sd

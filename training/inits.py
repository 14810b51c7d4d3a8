"""Initial weights through the registry: ImageNet (torchvision VGG-16 / ResNet-50 / ResNet-101, the MXNet
ResNet-38 via our parser) and the COCO-pretrained DeepLab-V1 trunk.

``wsss_zoo.hub.load_state_dict(name, weights)`` resolves the file (download + sha256, or a local path)
and converts it to canonical keys; a *mapper* per init then renames those keys onto the network being
trained, which loads them non-strictly as upstream does (``strict=False``). Every tensor the mapper
expects must land: a wrong file is an error, not a silent partial init.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Dict, Optional

import torch

from wsss_zoo.errors import CheckpointMismatchError


def _prefixed(prefix: str, drop: tuple = ("fc.",)) -> Callable:
    def mapper(sd):
        return OrderedDict((prefix + k, v) for k, v in sd.items() if not k.startswith(drop))
    return mapper


def _vgg16_trunk(sd):
    from wsss_zoo.models.vgg_drs import imagenet_vgg16_trunk

    return imagenet_vgg16_trunk(sd)


def _identity(sd):
    return OrderedDict(sd)


#: init registry name -> key mapper onto the trained network's canonical names
MAPPERS: Dict[str, Callable] = {
    "resnet50_imagenet": _prefixed("resnet50."),     # IRN/CDA/RIB CAM net and IRNet backbones
    "resnet101_imagenet": _prefixed("backbone."),    # VainF DeepLab-V3+ backbone
    "vgg16_imagenet": _vgg16_trunk,                  # DRS trunk (features.N -> layerX_convY)
    "resnet38_imagenet": _identity,                  # MXNet Model A1, already resnet38d keys
    "deeplabv1_resnet101_coco": _identity,           # kazuto trunk, copied by load_coco_init
}


def load_init(model: torch.nn.Module, name: str, weights: Optional[str] = None) -> dict:
    """Load the registry init ``name`` (or the local file ``weights``) into ``model``; returns a summary."""
    from wsss_zoo import hub
    from wsss_zoo.registry import model_entry

    if name not in MAPPERS:
        raise KeyError(f"no init mapper for {name!r}; known: {sorted(MAPPERS)}")
    sd, path = hub.load_state_dict(model_entry(name), weights)
    if name == "deeplabv1_resnet101_coco":
        from wsss_zoo.models.deeplab import load_coco_init

        load_coco_init(model, sd)
        return {"init": name, "file": str(path), "loaded": sum(k.startswith("layer") for k in sd)}
    mapped = MAPPERS[name](sd)
    own = model.state_dict()
    unexpected = [k for k in mapped if k not in own]
    mismatched = [k for k in mapped if k in own and own[k].shape != mapped[k].shape]
    if unexpected or mismatched:
        raise CheckpointMismatchError(
            f"init {name} ({path}) does not fit {type(model).__name__}: unexpected {unexpected[:5]}, "
            f"shape mismatch {mismatched[:5]}", [], unexpected, mismatched)
    model.load_state_dict(mapped, strict=False)
    return {"init": name, "file": str(path), "loaded": len(mapped)}

"""Layout rules of the ResNet-38 family (PSA, SEAM, EPS, SBNet, CDA's ResNet-38 rows, ademxapp ImageNet).

Every published ResNet-38 file is a raw ``model.module.state_dict()`` whose keys already equal our
modules' keys (:mod:`wsss_zoo.models.resnet38`, :mod:`wsss_zoo.models.affinity`); files from
torch >= 0.4.1 carry 37 ``num_batches_tracked`` counters, torch 0.4.0 / MXNet conversions none.
So a rule only drops those counters (and, for the ImageNet weights, renames raw ademxapp names).
"""
from __future__ import annotations

from collections import OrderedDict

from .core import drop_keys, register_layout
from .mxnet import mxnet_to_torch_key

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
    "resnet38_aff": (("f8_5.weight", "f9.weight"),
                     "PSA/SEAM/SBNet resnet38_aff: 232 keys (backbone, f8_3, f8_4, f8_5, f9 448x448)"),
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

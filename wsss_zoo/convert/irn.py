"""Layouts of the IRN-family ResNet-50 checkpoints (CDA and RIB releases, user-trained IRNets).

Both files are raw state dicts saved from modules that register the same submodules under several
names, so every tensor appears under all of them (shared storage):

* ``irn_cam`` -- ``net/resnet50_cam.Net`` / ``CAM`` (CDA "ResNet-50 for IRnet" CAM, RIB VOC/COCO
  classifiers): 956 keys = ``resnet50.*`` (318) + ``stage1..4.*`` (318) + ``classifier.weight`` +
  ``backbone.0..3.*`` (318) + ``newly_added.0.weight``;
* ``irn_edge`` -- ``net/resnet50_irn.AffinityDisplacementLoss`` (CDA "Pseudo Mask / ResNet-50 for
  IRnet", the IRNet that RIB users train): 1056 keys = the training-only buffers ``path_indices0..19``
  and ``disp_target``, then ``resnet50.*``, ``stage1..5.*``, ``mean_shift.running_mean``,
  ``fc_edge1..6.*``, ``fc_dp1..7.*`` (``fc_dp7.4`` is the mean shift), ``backbone.0..4.*``,
  ``edge_layers.0..5.*``, ``dp_layers.0..6.*``. An ``EdgeDisplacement`` state dict (1035 keys) is the
  same without the 21 buffers.

The rules fold every alias onto the canonical key (checking equal values where both are present),
drop the training buffers and the always-zero BatchNorm ``num_batches_tracked`` counters.
"""
from __future__ import annotations

from ..errors import CheckpointFormatError
from .core import collapse_aliases, drop_keys, register_layout

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
    from ..registry import registry

    names = [n for n, e in registry()["models"].items() if e.get("layout") == layout]
    return ", ".join(names) or layout


def _fold(sd, aliases, drops, other_family: bool, other_layout: str, what: str):
    """Refuse a file of the other IRN network, drop ``drops``, fold ``aliases`` onto canonical keys."""
    if other_family:
        raise CheckpointFormatError(
            f"this file holds {what}: load it as {_models_with_layout(other_layout)} "
            f"(or pass it as the '{'irn' if other_layout == 'irn_edge' else 'cam'}' role of a pipeline)")
    return collapse_aliases(drop_keys(sd, drops), aliases)


@register_layout("irn_cam", signature=CAM_SIGNATURE)
def convert_irn_cam(sd):
    """IRN/CDA/RIB ResNet-50 CAM classifier (``res50_cam.pth``, 956 keys -> 266 tensors)."""
    return _fold(sd, CAM_ALIASES, _BN_COUNTERS, _is_edge_file(sd), "irn_edge",
                 "an IRNet (EdgeDisplacement: fc_edge*/fc_dp* keys), not a CAM classifier")


@register_layout("irn_edge", signature=EDGE_SIGNATURE)
def convert_irn_edge(sd):
    """IRNet ``AffinityDisplacementLoss`` / ``EdgeDisplacement`` (``res50_irn.pth``, 1056 or 1035 keys -> 358 tensors)."""
    return _fold(sd, EDGE_ALIASES, _BN_COUNTERS + _IRN_BUFFERS, _is_cam_file(sd), "irn_cam",
                 "a ResNet-50 CAM classifier (classifier.weight), not an IRNet")

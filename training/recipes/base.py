"""What a recipe is: the upstream hyper-parameters of one training stage, as data.

A :class:`Recipe` names the task that trains it (:mod:`training.tasks`), the registry entry whose
builder and layout load its output (``load_as``), the ImageNet/COCO inits (registry names), the
optimiser and schedule, the data and loss settings, the stage inputs it reads (pseudo labels, CRF
dicts, ...), the upstream quirks it reproduces, and what upstream ran (command, GPUs, hours).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional, Tuple

from ..optim import OptimSpec, ScheduleSpec

STAGES = ("final", "intermediate", "prep")


@dataclasses.dataclass(frozen=True)
class Upstream:
    """What the authors ran: the command, the GPUs, the wall clock when known, and where that comes from."""

    command: str
    gpus: str
    hours: str = "not reported"
    source: str = ""


@dataclasses.dataclass(frozen=True)
class StageInput:
    """A folder produced by an earlier stage (or shipped with the dataset) that a recipe reads.

    Without ``--input name=DIR`` the folder is ``default``: ``out:X`` is ``<--out>/X`` (what an earlier stage
    of this repo writes there), ``root:X`` is ``<dataset root>/X`` (upstream's location); ``producer`` says
    which recipe / command writes it.
    """

    name: str
    help: str
    default: str = ""
    producer: str = ""


def ir_labels_input(folder: str, producer: str, thresholds: str = "0.30 / 0.05") -> StageInput:
    """IR labels written by an ``ir_labels`` prep recipe into ``<--out>/<folder>``."""
    return StageInput("ir_labels", f"IR labels <id>.png (cam_to_ir_label: {thresholds}, CRF)",
                      default=f"out:{folder}", producer=f"python training/run.py {producer}")


def cams_input(folder: str, model: str, weights: str, split: str = "train_aug", dataset: str = "voc") -> StageInput:
    """CAM dicts of a trained network, written by ``wsss-zoo cam`` into ``<--out>/<folder>``."""
    return StageInput("cams", f"CAM dicts <id>.npy of {model} on {split}", default=f"out:{folder}",
                      producer=f"wsss-zoo cam --model {model} --weights OUT/{weights}.pth --{dataset}-root R "
                               f"--split {split} --out OUT/{folder}")


def crf_input(alpha_name: str, alpha: int, folder: str, producer: str) -> StageInput:
    """la / ha CRF score dicts written by a ``crf_labels`` prep recipe into ``<--out>/<folder>``."""
    return StageInput(alpha_name, f"CRF score dicts <id>.npy {{0: bg, id: prob}} with bg alpha {alpha}",
                      default=f"out:{folder}", producer=f"python training/run.py {producer}")


#: Named upstream quirks a recipe reproduces by default, and the run.py flag that switches each off.
QUIRKS: Dict[str, Tuple[str, str]] = {
    "polyoptimizer_momentum": (
        "--fix-polyoptimizer-momentum",
        "PolyOptimizer calls SGD(params, lr, weight_decay) positionally: the weight decay lands in SGD's "
        "momentum slot (momentum 5e-4 / 1e-4, 0.9 is only the poly power); the flag uses momentum 0.9."),
    "short_poly_decay": (
        "--full-poly-decay",
        "the poly decay ends before the run does and the lr then stays at its last value (EPS-COCO: "
        "max_step 76,950 of 256,500 iterations; CDA: max_step counted with batch 16 while the loader "
        "gives batch 8); the flag decays over the whole run."),
    "label_pad_background": (
        "--fix-label-padding",
        "VainF's random crop pads the label with 0 (background) instead of 255 (ignore); the flag pads with 255."),
    "aff_pad_black": (
        "--fix-aff-padding",
        "AffinityNet training crops the raw image into a zero container before normalising, so padding is "
        "black, not the mean colour; the flag pads after normalisation (mean colour)."),
}


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str                       # output file stem: DIR/<name>.pth
    method: str                     # DRS | CDA | EPS | SBNet | RIB
    kind: str                       # task that trains it (training.tasks.TASKS)
    dataset: str                    # voc | coco
    load_as: str                    # registry model whose builder + layout load the output
    stage: str                      # final | intermediate | prep
    summary: str
    upstream: Upstream
    expected: str = ""              # what a reproduction should give (README)
    init: Tuple[str, ...] = ()      # registry names of the initial weights (ImageNet / COCO)
    split: str = "train_aug"
    batch_size: int = 8             # global batch over all processes (upstream DataParallel batch)
    epochs: float = 0.0             # epochs (steps = N // batch * epochs) ...
    iterations: int = 0             # ... or a fixed number of optimiser steps
    drop_last: bool = True
    accumulate: int = 1             # mini-batches per optimiser step (kazuto ITER_SIZE)
    amp: bool = False               # upstream trained with mixed precision (VainF --amp)
    short_decay: Optional[Tuple[float, int]] = None  # poly max_step = N // batch * epochs of this (epochs, batch)
    optim: OptimSpec = OptimSpec()
    schedule: ScheduleSpec = ScheduleSpec()
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    loss: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    model_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    inputs: Tuple[StageInput, ...] = ()
    quirks: Tuple[str, ...] = ()
    seed: Optional[int] = None      # upstream's fixed seed, if any
    smoke: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # overrides for --smoke
    notes: str = ""

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ValueError(f"{self.name}: stage must be one of {STAGES}")
        unknown = set(self.quirks) - set(QUIRKS)
        if unknown:
            raise ValueError(f"{self.name}: unknown quirks {sorted(unknown)}")
        if self.stage != "prep" and not (self.epochs or self.iterations):
            raise ValueError(f"{self.name}: give epochs or iterations")

    def to_dict(self) -> Dict[str, Any]:
        return _plain(dataclasses.asdict(self))


def _plain(obj):
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj

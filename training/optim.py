"""Optimisers and learning-rate schedules of the upstream recipes.

* ``poly_sgd`` -- PSA/SEAM/EPS/SBNet/IRN/CDA/RIB ``PolyOptimizer`` (``tool/torchutils.py``,
  ``misc/torchutils.py``): an ``SGD`` subclass that calls ``SGD(params, lr, weight_decay)`` positionally,
  so the weight decay value lands in SGD's *momentum* slot (foundations.md 4.4). The effective momentum is
  the weight decay (5e-4 or 1e-4); the attribute named ``momentum`` (0.9) is the poly power. Reproduced by
  default; the quirk ``polyoptimizer_momentum`` off (``--fix-polyoptimizer-momentum``) uses momentum 0.9.
* ``sgd`` -- plain SGD (DRS classifier: Nesterov; kazuto1011 and VainF DeepLab: momentum 0.9).
* ``adam`` -- DRS refinement network.

Schedules set every group's lr from its initial lr before each optimiser step (step ``s`` counts from 0):

* ``poly``: ``(1 - s/max_step)^power`` while ``s < max_step``, then frozen at the last value (PolyOptimizer);
  ``max_step`` may be shorter than the run (EPS-COCO, CDA: quirk ``short_poly_decay``).
* ``poly_every``: kazuto1011 ``PolynomialLR`` stepped with ``epoch=iteration``: the lr only changes every
  ``every`` iterations, to ``(1 - m/max_step)^power`` with ``m`` the last multiple of ``every`` <= s.
* ``poly_min``: VainF ``PolyLR``: ``max(lr0 (1 - s/max_step)^power, min_lr)``.
* ``step``: DRS ``reduce_lr``: x ``gamma`` at the start of each (1-based) epoch listed in ``milestones``.
* ``constant``.
"""
from __future__ import annotations

import dataclasses
from typing import List, Tuple

import torch


@dataclasses.dataclass(frozen=True)
class OptimSpec:
    name: str = "poly_sgd"          # poly_sgd | sgd | adam
    lr: float = 0.01
    weight_decay: float = 5e-4
    momentum: float = 0.9           # sgd only (poly_sgd: see the module docstring)
    nesterov: bool = False


@dataclasses.dataclass(frozen=True)
class ScheduleSpec:
    name: str = "poly"              # poly | poly_every | poly_min | step | constant
    power: float = 0.9
    every: int = 10                 # poly_every
    min_lr: float = 0.0             # poly_min
    milestones: Tuple[int, ...] = ()  # step: 1-based epochs at whose start lr *= gamma
    gamma: float = 0.1


def build_optimizer(groups: List[dict], spec: OptimSpec, *, fix_polyoptimizer_momentum: bool = False):
    """``groups``: dicts with ``params``, ``lr_mult`` and optionally ``weight_decay`` (default ``spec``'s).

    Every group gets ``initial_lr = spec.lr * lr_mult``; empty groups are dropped (upstream keeps them, which
    changes nothing).
    """
    param_groups = []
    for g in groups:
        params = [p for p in g["params"] if p.requires_grad]
        if not params:
            continue
        wd = spec.weight_decay if g.get("weight_decay") is None else g["weight_decay"]
        lr = spec.lr * g.get("lr_mult", 1.0)
        param_groups.append({"params": params, "lr": lr, "initial_lr": lr, "weight_decay": wd,
                             "group_name": g.get("name", "")})
    if not param_groups:
        raise ValueError("no trainable parameters in the optimiser groups")
    if spec.name == "poly_sgd":
        momentum = 0.9 if fix_polyoptimizer_momentum else spec.weight_decay
        return torch.optim.SGD(param_groups, lr=spec.lr, momentum=momentum, weight_decay=0.0)
    if spec.name == "sgd":
        return torch.optim.SGD(param_groups, lr=spec.lr, momentum=spec.momentum, nesterov=spec.nesterov,
                               weight_decay=spec.weight_decay)
    if spec.name == "adam":
        return torch.optim.Adam(param_groups, lr=spec.lr, weight_decay=spec.weight_decay)
    raise ValueError(f"unknown optimiser {spec.name!r}")


def lr_multiplier(spec: ScheduleSpec, step: int, max_step: int, steps_per_epoch: int) -> float:
    """The factor applied to each group's initial lr at optimiser step ``step`` (0-based)."""
    if spec.name == "constant":
        return 1.0
    if spec.name == "poly":
        s = min(step, max_step - 1)  # PolyOptimizer stops updating once global_step >= max_step
        return (1.0 - s / max_step) ** spec.power
    if spec.name == "poly_every":
        m = (step // spec.every) * spec.every
        m = min(m, max_step)
        return (1.0 - m / max_step) ** spec.power
    if spec.name == "poly_min":
        return max(0.0, 1.0 - step / max_step) ** spec.power
    if spec.name == "step":
        epoch = step // max(1, steps_per_epoch) + 1
        return spec.gamma ** sum(1 for m in spec.milestones if epoch >= m)
    raise ValueError(f"unknown schedule {spec.name!r}")


def apply_lr(optimizer, spec: ScheduleSpec, step: int, max_step: int, steps_per_epoch: int) -> float:
    """Set every group's lr for ``step``; returns the first group's lr (for logging)."""
    mult = lr_multiplier(spec, step, max_step, steps_per_epoch)
    for g in optimizer.param_groups:
        g["lr"] = max(g["initial_lr"] * mult, spec.min_lr)
    return optimizer.param_groups[0]["lr"]

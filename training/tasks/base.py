"""What every task shares: building the family's network from the registry, inits, freezing, parameter
groups, the training image list and stage inputs, and the loss wrapper that DDP sees."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch
import torch.nn as nn
from torch.utils.data import Dataset

from wsss_zoo.models import build_model
from wsss_zoo.registry import ModelEntry, Registry, model_entry

from ..batchnorm import use_batch_statistics
from ..config import RunConfig
from ..data.sources import Item, items_of, open_dataset, require_files, resolve_input
from ..distributed import DistContext
from ..inits import load_init

TASKS: Registry[type] = Registry("training task", packages=("training.tasks",))


def register_task(kind: str):
    def deco(cls):
        cls.kind = kind
        return TASKS.register(kind, cls)
    return deco


class LossModule(nn.Module):
    """The module DDP wraps: the network plus the task's loss, ``forward(batch) -> {"total": ..., ...}``.

    Putting both views / both images of a step in one forward keeps DDP's one-forward-one-backward contract.
    """

    def __init__(self, net: nn.Module, compute: Callable):
        super().__init__()
        self.net = net
        self._compute = compute

    def forward(self, batch):
        return self._compute(self.net, batch)


# --------------------------------------------------------------------------- parameter groups
def _tuple4(groups, wds) -> List[dict]:
    mults = (1.0, 2.0, 10.0, 20.0)
    names = ("weights", "biases", "new weights", "new biases")
    return [{"params": list(g), "lr_mult": m, "weight_decay": wd, "name": n}
            for g, m, wd, n in zip(groups, mults, wds, names)]


def param_groups_for(model: nn.Module, builder: str) -> List[dict]:
    """Upstream optimiser groups of each family (``weight_decay`` None = the optimiser's value)."""
    if builder.startswith("resnet38"):  # PSA/SEAM/EPS/SBNet PolyOptimizer: biases without decay
        return _tuple4(model.get_parameter_groups(), (None, 0.0, None, 0.0))
    if builder == "vgg16_drs":  # DRS train_cls: decay on every group
        return _tuple4(model.get_parameter_groups(), (None, None, None, None))
    if builder.startswith("resnet50_irn"):  # IRN trainable_parameters: backbone/edge 1x, new/displacement 10x
        first, second = model.trainable_parameters()
        return [{"params": list(first), "lr_mult": 1.0, "name": "backbone"},
                {"params": list(second), "lr_mult": 10.0, "name": "head"}]
    if builder == "deeplabv2_resnet101_msc":  # kazuto get_params
        g = model.get_parameter_groups()
        return [{"params": g["1x"], "lr_mult": 1.0, "name": "1x"}, {"params": g["10x"], "lr_mult": 10.0, "name": "10x"},
                {"params": g["20x"], "lr_mult": 20.0, "weight_decay": 0.0, "name": "20x"}]
    if builder == "deeplabv3plus_resnet101":  # VainF: backbone at 0.1 lr
        g = model.get_parameter_groups()
        return [{"params": g["backbone"], "lr_mult": 0.1, "name": "backbone"},
                {"params": g["classifier"], "lr_mult": 1.0, "name": "classifier"}]
    return [{"params": list(model.parameters()), "lr_mult": 1.0, "name": "all"}]


def freeze(model: nn.Module, prefixes) -> None:
    """``requires_grad=False`` for parameters under ``prefixes``: parts upstream never updates (detached
    stages), so DDP does not wait for their gradients and SGD skips them exactly as upstream."""
    for name, p in model.named_parameters():
        if name.startswith(tuple(prefixes)):
            p.requires_grad_(False)


def disable_dropout(model: nn.Module) -> None:
    """``--no-dropout``: every dropout layer passes its input through (p = 0). Inference is unchanged
    (dropout is off in eval mode); only the training signal loses its noise."""
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.p = 0.0


# --------------------------------------------------------------------------- task base
class Task:
    kind = ""
    smoke_data: Dict = {}          # the kind's data overrides in --smoke runs
    frozen: tuple = ()             # parameter prefixes that never receive a gradient upstream

    def __init__(self, cfg: RunConfig, ctx: DistContext):
        self.cfg, self.ctx, self.recipe = cfg, ctx, cfg.recipe
        self.params = cfg.data(self.smoke_data)
        self.loss_cfg = cfg.loss_settings()
        self.init_summary: List[dict] = []
        self.inputs_used: Dict[str, str] = {}
        self._reader = None

    # ------------------------------------------------------------------ model
    @property
    def entry(self) -> ModelEntry:
        return model_entry(self.recipe.load_as)

    @property
    def builder(self) -> str:
        return self.entry.builder

    def build_model(self) -> nn.Module:
        model = build_model(self.entry, **dict(self.recipe.model_kwargs))
        if not self.cfg.random_init:
            for name in self.recipe.init:
                self.init_summary.append(load_init(model, name, self.cfg.init_weights.get(name)))
        self.train_mode(model)
        freeze(model, self.frozen)
        if self.cfg.no_dropout:
            disable_dropout(model)
        return model

    def train_mode(self, model: nn.Module) -> None:
        """Training mode with upstream's freezing (the family modules' ``train()`` overrides do it);
        with ``--train-bn`` BatchNorm then normalises with batch statistics (:mod:`training.batchnorm`)."""
        model.train()
        if self.cfg.train_bn:
            use_batch_statistics(model)

    def param_groups(self, model: nn.Module) -> List[dict]:
        return param_groups_for(model, self.builder)

    def export(self, model: nn.Module) -> dict:
        """The state dict written to ``<name>.pth``: the family module's canonical keys."""
        return model.state_dict()

    # ------------------------------------------------------------------ data
    @property
    def reader(self):
        if self._reader is None:
            c = self.cfg
            self._reader = open_dataset(self.recipe.dataset, voc_root=c.voc_root, coco_root=c.coco_root,
                                        split=c.dataset_split, split_file=c.split_file, cls_labels=c.cls_labels,
                                        coco_layout=self.params.get("coco_layout", c.coco_layout))
        return self._reader

    def items(self) -> List[Item]:
        return items_of(self.reader)

    def input_dir(self, name: str, suffix: Optional[str] = None) -> Path:
        """Folder of a stage input; with ``suffix``, every image of the split must have ``<id><suffix>`` there."""
        spec = next((s for s in self.recipe.inputs if s.name == name), None)
        folder = resolve_input(name, self.cfg.inputs, self.reader, spec.default if spec else "", self.cfg.out_dir,
                               spec.producer if spec else "")
        if suffix:
            require_files(folder, self.reader.ids, suffix, f"stage input {name!r}")
        self.inputs_used[name] = str(folder)
        return folder

    def dataset(self) -> Dataset:
        raise NotImplementedError

    # ------------------------------------------------------------------ loss
    def compute(self, net: nn.Module, batch: dict) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def training_module(self, model: nn.Module) -> LossModule:
        return LossModule(model, self.compute)

    def finalize(self, model: nn.Module) -> dict:
        """Work after the last step (IRN's mean displacement); returns metrics for the JSON."""
        return {}

    def per_rank_batch(self) -> int:
        return self.cfg.per_rank_batch(self.ctx.world_size)

    def describe(self) -> Optional[str]:
        return None

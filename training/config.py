"""A run's resolved settings: the recipe plus command-line overrides (and ``--smoke`` shrinking)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Set

from wsss_zoo.errors import ConfigError

from .optim import OptimSpec, ScheduleSpec
from .recipes.base import Recipe

#: Sizes and lengths of a ``--smoke`` run: a few CPU steps on a tiny generated tree, random inits.
SMOKE = {"batch_size": 2, "iterations": 2, "workers": 0, "log_every": 1, "lr_scale": 0.01}
#: Data settings the command line may override (``--crop N``, ``--resize-long LO HI``) for reduced schedules.
DATA_OVERRIDES = ("crop", "resize_long")


@dataclasses.dataclass
class RunConfig:
    recipe: Recipe
    out_dir: Path
    voc_root: Optional[Path] = None
    coco_root: Optional[Path] = None
    coco_layout: str = "auto"
    split: Optional[str] = None
    split_file: Optional[Path] = None
    cls_labels: Optional[Path] = None
    inputs: Dict[str, Path] = dataclasses.field(default_factory=dict)
    init_weights: Dict[str, Path] = dataclasses.field(default_factory=dict)
    weights: Optional[Path] = None  # prep recipes that run a trained network (loc_maps, rib_cams)
    batch_size: Optional[int] = None
    iterations: Optional[int] = None
    epochs: Optional[float] = None
    lr: Optional[float] = None
    accumulate: Optional[int] = None
    workers: int = 4
    amp: Optional[bool] = None
    sync_bn: bool = False
    seed: Optional[int] = None
    device: str = "auto"
    resume: bool = True
    log_every: int = 50
    save_every: int = 1000
    smoke: bool = False
    random_init: bool = False       # the builders' random weights instead of the recipe's inits
    train_bn: bool = False          # BatchNorm on batch statistics (training/batchnorm.py)
    no_dropout: bool = False        # every dropout layer at p = 0
    data_overrides: Dict[str, Any] = dataclasses.field(default_factory=dict)  # --crop, --resize-long
    fixed_quirks: Set[str] = dataclasses.field(default_factory=set)
    deterministic: bool = False

    # ------------------------------------------------------------------------ resolved values
    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def global_batch(self) -> int:
        return int(self.batch_size or self.recipe.batch_size)

    def per_rank_batch(self, world_size: int) -> int:
        """Mini-batch of each process: the upstream (DataParallel) batch split over the processes;
        a smoke run without ``--batch-size`` uses 2 per process."""
        if self.smoke and self.batch_size is None:
            return SMOKE["batch_size"]
        return max(1, self.global_batch // world_size)

    @property
    def accumulation(self) -> int:
        return int(self.accumulate or self.recipe.accumulate)

    @property
    def use_amp(self) -> bool:
        return self.recipe.amp if self.amp is None else bool(self.amp)

    @property
    def run_seed(self) -> int:
        if self.seed is not None:
            return int(self.seed)
        return 0 if self.recipe.seed is None else int(self.recipe.seed)

    @property
    def dataset_split(self) -> str:
        return self.split or self.recipe.split

    def quirk(self, name: str) -> bool:
        """Whether the upstream quirk ``name`` is reproduced in this run."""
        return name in self.recipe.quirks and name not in self.fixed_quirks

    @property
    def optim(self) -> OptimSpec:
        spec = self.recipe.optim
        return dataclasses.replace(spec, lr=self.lr) if self.lr is not None else spec

    @property
    def schedule(self) -> ScheduleSpec:
        return self.recipe.schedule

    def data(self, kind_smoke: Mapping[str, Any] = ()) -> Dict[str, Any]:
        """The recipe's data settings, with the task's and the recipe's smoke overrides in smoke mode,
        then the command line's (``--crop``, ``--resize-long``), which must name settings the recipe has."""
        out = dict(self.recipe.data)
        if self.smoke:
            out.update(dict(kind_smoke))
            out.update(self.recipe.smoke.get("data", {}))
        unknown = sorted(set(self.data_overrides) - set(out))
        if unknown:
            have = ", ".join(sorted(k for k in out if k in DATA_OVERRIDES)) or "none of them"
            raise ConfigError(f"recipe {self.recipe.name} has no data setting {', '.join(unknown)} to override "
                              f"(it has {have}); drop --{unknown[0].replace('_', '-')}")
        out.update(self.data_overrides)
        return out

    def loss_settings(self) -> Dict[str, Any]:
        return dict(self.recipe.loss)

    def to_dict(self) -> Dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "recipe":
                continue
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, dict):
                value = {k: str(v) if isinstance(v, Path) else v for k, v in value.items()}
            elif isinstance(value, set):
                value = sorted(value)
            out[f.name] = value
        out.update(global_batch=self.global_batch, accumulation=self.accumulation, amp=self.use_amp,
                   seed=self.run_seed, split=self.dataset_split,
                   quirks={q: self.quirk(q) for q in self.recipe.quirks},
                   optim=dataclasses.asdict(self.optim))
        return out


def smoke_config(cfg: RunConfig) -> RunConfig:
    """Shrink a run for ``--smoke``: tiny batches, a few steps, no workers, random inits."""
    cfg.smoke = True
    cfg.random_init = True
    cfg.iterations = cfg.iterations or SMOKE["iterations"]
    cfg.epochs = None
    cfg.workers = SMOKE["workers"]
    cfg.log_every = SMOKE["log_every"]
    cfg.accumulate = cfg.accumulate or min(cfg.recipe.accumulate, 2)
    cfg.amp = False if cfg.amp is None else cfg.amp
    if cfg.lr is None:  # randomly initialised networks diverge at the upstream rates in two steps
        cfg.lr = cfg.recipe.optim.lr * SMOKE["lr_scale"]
    return cfg

"""The one training loop every recipe runs.

DDP over ``torch.distributed`` (gloo on CPU, nccl on GPU) with a DistributedSampler, the upstream
(DataParallel) batch split over the processes, optional SyncBN (for networks whose BN trains), AMP,
gradient accumulation (kazuto ``ITER_SIZE``), the recipe's lr schedule set before every optimiser step,
resume from ``<out>/<name>.last.pth``, seeds, JSON/text logs and a progress bar on rank 0.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import platform
import random
import time
from typing import Dict

import numpy as np
import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

from wsss_zoo.errors import ConfigError

from .checkpoint import load_last, output_stem, save_final, save_last
from .config import RunConfig
from .distributed import DistContext, ResumableSampler, barrier, init_distributed, mean_over_ranks, shutdown
from .logs import Meter, RunLogger
from .optim import apply_lr, build_optimizer
from .tasks import make_task


def seed_everything(seed: int, rank: int) -> None:
    """Python, numpy and torch seeds per process (rank-shifted: each process augments differently)."""
    random.seed(seed + rank)
    np.random.seed((seed + rank) % (2 ** 32))
    torch.manual_seed(seed + rank)


def to_device(batch, device):
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def convert_sync_bn(model: nn.Module) -> nn.Module:
    """SyncBatchNorm for plain ``nn.BatchNorm2d`` only (frozen/fixed BN subclasses are left alone)."""
    for name, child in list(model.named_children()):
        if type(child) is nn.BatchNorm2d:
            sync = nn.SyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                    child.track_running_stats)
            sync.load_state_dict(child.state_dict())
            sync.train(child.training)
            setattr(model, name, sync)
        else:
            convert_sync_bn(child)
    return model


def planned_steps(cfg: RunConfig, n_images: int, global_batch: int) -> Dict[str, int]:
    """Optimiser steps of the run and the poly ``max_step`` (upstream: ``N // batch * epochs``)."""
    recipe = cfg.recipe
    per_epoch = n_images // global_batch if recipe.drop_last else math.ceil(n_images / global_batch)
    per_epoch = max(1, per_epoch // cfg.accumulation)
    if cfg.iterations:
        total = int(cfg.iterations)
    elif cfg.epochs or recipe.epochs:
        total = int(math.ceil((cfg.epochs or recipe.epochs) * per_epoch))
    else:
        total = int(recipe.iterations)
    max_step = total
    if recipe.short_decay and cfg.quirk("short_poly_decay"):
        epochs, batch = recipe.short_decay
        max_step = max(1, min(total, int(n_images // batch * epochs)))
    return {"total": max(1, total), "max_step": max_step, "per_epoch": per_epoch}


def train(cfg: RunConfig) -> dict:
    """Train ``cfg.recipe`` (or run its ``prep`` job) in this process; joins torchrun's process group."""
    ctx = init_distributed(cfg.device)
    try:
        if cfg.recipe.stage == "prep":
            seed_everything(cfg.run_seed, ctx.rank)
            return make_task(cfg, ctx).run()
        return _train(cfg, ctx)
    finally:
        shutdown(ctx)


def _train(cfg: RunConfig, ctx: DistContext) -> dict:
    if ctx.is_main:
        cfg.out_dir.mkdir(parents=True, exist_ok=True)
    barrier(ctx)
    log = RunLogger(cfg.out_dir, cfg.recipe.name, ctx.is_main)
    seed_everything(cfg.run_seed, ctx.rank)
    if cfg.deterministic:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    run = _build(cfg, ctx, log)
    start = _resume(cfg, ctx, run, log)
    log.info(f"{cfg.recipe.name}: {len(run.dataset)} images, {ctx.world_size} process(es) x batch {run.per_rank}"
             f"{f' x {cfg.accumulation} accumulated' if cfg.accumulation > 1 else ''}, {run.plan['total']} steps "
             f"(poly max_step {run.plan['max_step']}), device {ctx.device}, amp {cfg.use_amp}, "
             f"quirks {[q for q in cfg.recipe.quirks if cfg.quirk(q)]}")
    history, lr = _step_loop(cfg, ctx, run, start, log)
    return _report(cfg, ctx, run, start, history, lr, log)


@dataclasses.dataclass
class _Run:
    """What one training run is built from (:func:`_build`)."""

    task: object
    dataset: object
    model: nn.Module
    net: nn.Module  # the DDP-wrapped training module (or the module itself in a world of 1)
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    sampler: ResumableSampler
    loader: DataLoader
    per_rank: int
    plan: Dict[str, int]


def _build(cfg: RunConfig, ctx: DistContext, log: RunLogger) -> _Run:
    """Task, dataset, network (SyncBN, DDP), optimiser, AMP scaler, sampler and loader of a run."""
    recipe = cfg.recipe
    task = make_task(cfg, ctx)
    dataset = task.dataset()  # first: a wrong root or stage input fails before any init download
    model = task.build_model().to(ctx.device)
    if cfg.sync_bn and ctx.distributed and ctx.device.type == "cuda":
        model = convert_sync_bn(model)
        task.train_mode(model)
    elif cfg.sync_bn:
        log.info("--sync-bn ignored: SyncBatchNorm needs CUDA and more than one process")
    optimizer = build_optimizer(task.param_groups(model), cfg.optim,
                                fix_polyoptimizer_momentum=not cfg.quirk("polyoptimizer_momentum"))

    per_rank = task.per_rank_batch()
    if not cfg.smoke and per_rank * ctx.world_size != cfg.global_batch:
        log.info(f"warning: batch {cfg.global_batch} does not split over {ctx.world_size} processes; "
                 f"training with {per_rank * ctx.world_size} (give --batch-size)")
    sampler = ResumableSampler(dataset, ctx, shuffle=True, seed=cfg.run_seed)
    loader = DataLoader(dataset, batch_size=per_rank, sampler=sampler, num_workers=cfg.workers,
                        drop_last=recipe.drop_last, pin_memory=ctx.device.type == "cuda",
                        persistent_workers=cfg.workers > 0)
    if len(loader) == 0:
        raise ConfigError(f"{len(dataset)} images give no full batch of {per_rank} per process; "
                          "lower --batch-size or use fewer processes")
    plan = planned_steps(cfg, len(dataset), per_rank * ctx.world_size)

    module = task.training_module(model)
    net = DDP(module, device_ids=[ctx.local_rank] if ctx.device.type == "cuda" else None) if ctx.distributed else module
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.use_amp and ctx.device.type == "cuda")
    return _Run(task, dataset, model, net, optimizer, scaler, sampler, loader, per_rank, plan)


def _resume(cfg: RunConfig, ctx: DistContext, run: _Run, log: RunLogger) -> int:
    """The step to start at: 0, or the step of ``<out>/<recipe>.last.pth`` with ``--resume`` (states loaded)."""
    state = load_last(cfg.out_dir, cfg.recipe.name) if cfg.resume else None
    if state is None:
        return 0
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    start = int(state["step"])
    seed_everything(cfg.run_seed + start, ctx.rank)
    log.info(f"resumed {cfg.recipe.name} at step {start}/{run.plan['total']}")
    return start


class _Batches:
    """Micro-batches without end: the sampler's epochs one after the other, starting where ``start`` steps
    (of ``accumulation`` micro-batches each) left off."""

    def __init__(self, run: _Run, start: int, accumulation: int):
        self.run = run
        consumed = start * accumulation
        micro_per_epoch = len(run.loader)
        self.epoch = consumed // micro_per_epoch
        run.sampler.set_epoch(self.epoch)
        run.sampler.start_at((consumed % micro_per_epoch) * run.per_rank)
        self._batches = iter(run.loader)

    def next(self):
        try:
            return next(self._batches)
        except StopIteration:
            self.epoch += 1
            self.run.sampler.set_epoch(self.epoch)
            self._batches = iter(self.run.loader)
            return next(self._batches)


def _step_loop(cfg: RunConfig, ctx: DistContext, run: _Run, start: int, log: RunLogger):
    """Optimiser steps ``start .. total``: lr schedule, accumulated AMP micro-batches, logs, periodic saves.
    Returns the total loss of every step and the last learning rate."""
    recipe, accum = cfg.recipe, cfg.accumulation
    total, max_step = run.plan["total"], run.plan["max_step"]
    amp_dtype = torch.float16 if ctx.device.type == "cuda" else torch.bfloat16
    batches = _Batches(run, start, accum)
    meter, history = Meter(), []
    bar = log.progress(total, start, recipe.name)
    t0, lr = time.time(), 0.0
    for step in range(start, total):
        lr = apply_lr(run.optimizer, cfg.schedule, step, max_step, run.plan["per_epoch"])
        run.optimizer.zero_grad(set_to_none=True)
        values: Dict[str, float] = {}
        for micro in range(accum):
            batch = to_device(batches.next(), ctx.device)
            sync = run.net.no_sync() if ctx.distributed and micro < accum - 1 else contextlib.nullcontext()
            with sync:
                with torch.autocast(ctx.device.type, dtype=amp_dtype, enabled=cfg.use_amp):
                    out = run.net(batch)
                run.scaler.scale(out["total"] / accum).backward()
            for k, v in out.items():
                values[k] = values.get(k, 0.0) + float(v.detach()) / accum
        if not math.isfinite(values["total"]):
            raise FloatingPointError(f"{recipe.name}: loss is {values['total']} at step {step} "
                                     f"({ {k: round(v, 5) for k, v in values.items()} }); lower --lr or disable --amp")
        run.scaler.step(run.optimizer)
        run.scaler.update()
        meter.update(values)
        history.append(values["total"])
        bar.update(1)
        done = step + 1
        if done % cfg.log_every == 0 or done == total:
            means = mean_over_ranks(ctx, meter.pop())
            rate = (done - start) * run.per_rank * ctx.world_size * accum / max(time.time() - t0, 1e-9)
            log.record({"step": done, "epoch": batches.epoch, "lr": lr,
                        **{f"loss_{k}": v for k, v in means.items()}, "img_per_s": rate})
        if cfg.save_every and done % cfg.save_every == 0 and done < total and ctx.is_main:
            save_last(cfg.out_dir, recipe.name, run.model, run.optimizer, run.scaler, done)
    return history, lr


def _report(cfg: RunConfig, ctx: DistContext, run: _Run, start: int, history, lr: float, log: RunLogger) -> dict:
    """Save the resume state and the final weights + JSON report (rank 0); returns the report."""
    recipe, total = cfg.recipe, run.plan["total"]
    if ctx.is_main and start < total:
        save_last(cfg.out_dir, recipe.name, run.model, run.optimizer, run.scaler, total)
    extra = run.task.finalize(run.model)
    elapsed = log.close()
    report = {"recipe": recipe.name, "load_as": recipe.load_as, "method": recipe.method, "stage": recipe.stage,
              "steps": total, "poly_max_step": run.plan["max_step"], "world_size": ctx.world_size,
              "per_process_batch": run.per_rank, "images": len(run.dataset), "final_lr": lr,
              "seconds": round(elapsed or 0.0, 1),
              "metrics": {"loss_first": history[0] if history else None,
                          "loss_last": history[-1] if history else None,
                          "losses": history if cfg.smoke or len(history) <= 100 else None, **extra},
              "init": run.task.init_summary, "inputs": run.task.inputs_used, "config": cfg.to_dict(),
              "recipe_settings": recipe.to_dict(),
              "versions": {"torch": torch.__version__, "python": platform.python_version()}}
    if ctx.is_main:
        path = save_final(cfg.out_dir, output_stem(recipe), run.task.export(run.model), report)
        log.info(f"wrote {path} (load with wsss_zoo.load({recipe.load_as!r}, weights={str(path)!r}))")
        report["file"] = str(path)
    barrier(ctx)
    return report

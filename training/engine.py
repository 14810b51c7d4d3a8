"""The one training loop every recipe runs.

DDP over ``torch.distributed`` (gloo on CPU, nccl on GPU) with a DistributedSampler, the upstream
(DataParallel) batch split over the processes, optional SyncBN (for networks whose BN trains), AMP,
gradient accumulation (kazuto ``ITER_SIZE``), the recipe's lr schedule set before every optimiser step,
resume from ``<out>/<name>.last.pth``, seeds, JSON/text logs and a progress bar on rank 0.
"""
from __future__ import annotations

import contextlib
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
    recipe = cfg.recipe
    if ctx.is_main:
        cfg.out_dir.mkdir(parents=True, exist_ok=True)
    barrier(ctx)
    log = RunLogger(cfg.out_dir, recipe.name, ctx.is_main)
    seed_everything(cfg.run_seed, ctx.rank)
    if cfg.deterministic:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
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
    micro_per_epoch = len(loader)
    if micro_per_epoch == 0:
        raise ConfigError(f"{len(dataset)} images give no full batch of {per_rank} per process; "
                          "lower --batch-size or use fewer processes")
    plan = planned_steps(cfg, len(dataset), per_rank * ctx.world_size)
    total, max_step = plan["total"], plan["max_step"]
    accum = cfg.accumulation

    module = task.training_module(model)
    net = DDP(module, device_ids=[ctx.local_rank] if ctx.device.type == "cuda" else None) if ctx.distributed else module
    use_amp = cfg.use_amp
    amp_dtype = torch.float16 if ctx.device.type == "cuda" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and ctx.device.type == "cuda")

    start = 0
    state = load_last(cfg.out_dir, recipe.name) if cfg.resume else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start = int(state["step"])
        seed_everything(cfg.run_seed + start, ctx.rank)
        log.info(f"resumed {recipe.name} at step {start}/{total}")
    log.info(f"{recipe.name}: {len(dataset)} images, {ctx.world_size} process(es) x batch {per_rank}"
             f"{f' x {accum} accumulated' if accum > 1 else ''}, {total} steps (poly max_step {max_step}), "
             f"device {ctx.device}, amp {use_amp}, quirks {[q for q in recipe.quirks if cfg.quirk(q)]}")

    consumed = start * accum
    epoch = consumed // micro_per_epoch
    sampler.set_epoch(epoch)
    sampler.start_at((consumed % micro_per_epoch) * per_rank)
    batches = iter(loader)

    def next_batch():
        nonlocal epoch, batches
        try:
            return next(batches)
        except StopIteration:
            epoch += 1
            sampler.set_epoch(epoch)
            batches = iter(loader)
            return next(batches)

    meter, history = Meter(), []
    bar = log.progress(total, start, recipe.name)
    t0, lr = time.time(), 0.0
    for step in range(start, total):
        lr = apply_lr(optimizer, cfg.schedule, step, max_step, plan["per_epoch"])
        optimizer.zero_grad(set_to_none=True)
        values: Dict[str, float] = {}
        for micro in range(accum):
            batch = to_device(next_batch(), ctx.device)
            sync = net.no_sync() if ctx.distributed and micro < accum - 1 else contextlib.nullcontext()
            with sync:
                with torch.autocast(ctx.device.type, dtype=amp_dtype, enabled=use_amp):
                    out = net(batch)
                scaler.scale(out["total"] / accum).backward()
            for k, v in out.items():
                values[k] = values.get(k, 0.0) + float(v.detach()) / accum
        if not math.isfinite(values["total"]):
            raise FloatingPointError(f"{recipe.name}: loss is {values['total']} at step {step} "
                                     f"({ {k: round(v, 5) for k, v in values.items()} }); lower --lr or disable --amp")
        scaler.step(optimizer)
        scaler.update()
        meter.update(values)
        history.append(values["total"])
        bar.update(1)
        done = step + 1
        if done % cfg.log_every == 0 or done == total:
            means = mean_over_ranks(ctx, meter.pop())
            rate = (done - start) * per_rank * ctx.world_size * accum / max(time.time() - t0, 1e-9)
            log.record({"step": done, "epoch": epoch, "lr": lr, **{f"loss_{k}": v for k, v in means.items()},
                        "img_per_s": rate})
        if cfg.save_every and done % cfg.save_every == 0 and done < total and ctx.is_main:
            save_last(cfg.out_dir, recipe.name, model, optimizer, scaler, done)

    if ctx.is_main and start < total:
        save_last(cfg.out_dir, recipe.name, model, optimizer, scaler, total)
    extra = task.finalize(model)
    elapsed = log.close()
    report = {"recipe": recipe.name, "load_as": recipe.load_as, "method": recipe.method, "stage": recipe.stage,
              "steps": total, "poly_max_step": max_step, "world_size": ctx.world_size, "per_process_batch": per_rank,
              "images": len(dataset), "final_lr": lr, "seconds": round(elapsed or 0.0, 1),
              "metrics": {"loss_first": history[0] if history else None,
                          "loss_last": history[-1] if history else None,
                          "losses": history if cfg.smoke or len(history) <= 100 else None, **extra},
              "init": task.init_summary, "inputs": task.inputs_used, "config": cfg.to_dict(), "recipe_settings": recipe.to_dict(),
              "versions": {"torch": torch.__version__, "python": platform.python_version()}}
    if ctx.is_main:
        path = save_final(cfg.out_dir, output_stem(recipe), task.export(model), report)
        log.info(f"wrote {path} (load with wsss_zoo.load({recipe.load_as!r}, weights={str(path)!r}))")
        report["file"] = str(path)
    barrier(ctx)
    return report

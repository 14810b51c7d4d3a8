"""torch.distributed plumbing for training on top of :mod:`wsss_zoo.distributed` (the one torchrun context,
shared with dataset-wide generation): a resumable DistributedSampler and small collectives. A plain
``python training/run.py`` is a world of size 1."""
from __future__ import annotations

from typing import Dict, Iterator, Optional

import torch
import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler

from wsss_zoo.distributed import DistContext, init_distributed  # noqa: F401  (training's entry points)


def shutdown(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def mean_over_ranks(ctx: DistContext, values: Dict[str, float]) -> Dict[str, float]:
    """Average a dict of floats over the ranks (for logging)."""
    if not ctx.distributed or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64,
                     device=ctx.device if ctx.device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    t /= ctx.world_size
    return dict(zip(keys, t.tolist()))


def broadcast_object(ctx: DistContext, obj):
    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class ResumableSampler(DistributedSampler):
    """DistributedSampler that can start an epoch part-way (resume) by skipping its first ``start`` indices.

    Shuffling follows ``DistributedSampler`` (seeded by ``seed + epoch``), so a resumed run sees the same
    remaining samples as the interrupted one.
    """

    def __init__(self, dataset: Dataset, ctx: DistContext, shuffle: bool, seed: int):
        super().__init__(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=shuffle, seed=seed,
                         drop_last=False)
        self._start = 0

    def start_at(self, start: int) -> None:
        self._start = max(0, int(start))

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        start, self._start = self._start, 0
        return iter(indices[start:])

    def __len__(self) -> int:
        return self.num_samples - self._start


def device_type(device: Optional[torch.device]) -> str:
    return "cuda" if device is not None and device.type == "cuda" else "cpu"

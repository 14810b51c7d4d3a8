"""torch.distributed plumbing for torchrun: process group (gloo on CPU, nccl on GPU), a resumable
DistributedSampler, and small collectives. A plain ``python training/run.py`` is a world of size 1."""
from __future__ import annotations

import dataclasses
import datetime
import os
from typing import Dict, Iterator, Optional

import torch
import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler


@dataclasses.dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto", timeout_min: int = 30) -> DistContext:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK and join the process group when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    if use_cuda:
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo",
                                timeout=datetime.timedelta(minutes=timeout_min))
    return DistContext(rank=rank, world_size=world, local_rank=local, device=dev)


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

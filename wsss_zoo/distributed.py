"""The one torchrun context, shared by dataset-wide generation (:mod:`wsss_zoo.data.generate`) and training
(``training/``): read and check the environment torchrun sets, join the process group with a bounded wait,
and say which rank, device and backend this process uses.

Rules:

* The distributed variables count only as the complete torchrun set (:data:`TORCHRUN_VARIABLES`: ``RANK``,
  ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), whole numbers where numbers are due and
  consistent with each other (``0 <= LOCAL_RANK <= RANK < WORLD_SIZE``). None of ``RANK``, ``WORLD_SIZE``,
  ``LOCAL_RANK`` set is a plain single process (``MASTER_ADDR``/``MASTER_PORT`` alone, which some cluster
  profiles export, change nothing). Anything in between, e.g. a stray ``RANK=1`` left in a shell, is a
  :class:`~wsss_zoo.errors.DistributedError`: acting on it would silently process one shard of the data.
* Joining the group waits at most :func:`init_timeout` seconds (``WSSS_ZOO_DIST_TIMEOUT``, default
  :data:`DEFAULT_INIT_TIMEOUT_S`) for every peer, then fails with a message instead of hanging forever on a
  rank that was never started. Collectives afterwards (barriers at the end of a shard, gradient all-reduce)
  have the long ``timeout`` of ``torch.distributed`` (30 minutes by default).
* One GPU per local rank: ``device="auto"`` is ``cuda:LOCAL_RANK`` (modulo the visible GPUs) when CUDA is
  available, else the CPU; the backend is NCCL when every local rank has its own GPU, else gloo.
"""
from __future__ import annotations

import dataclasses
import datetime
import itertools
import os
import time
from typing import Mapping, Optional

import torch

from .devices import resolve_device
from .errors import DistributedError

#: the variables torchrun sets for every process; the distributed ones are acted on only as a complete set
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
_RANK_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
#: seconds to wait for every peer when the process group starts (``WSSS_ZOO_DIST_TIMEOUT`` overrides)
DEFAULT_INIT_TIMEOUT_S = 90.0
#: collectives once the group runs (a barrier waits for the slowest shard)
DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)
_HOW_TO_START = "start every process with torchrun (torchrun --nproc-per-node N ...)"
_inits = itertools.count()  # the n-th group this process joins: a fresh readiness key each time


@dataclasses.dataclass(frozen=True)
class TorchrunEnv:
    """The checked torchrun variables of this process."""

    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int


@dataclasses.dataclass(frozen=True)
class DistContext:
    """Rank, world size, local rank and device of this process (a world of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = dataclasses.field(default=False, compare=False, repr=False)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        """Wait for every rank (nothing to wait for in a world of 1 or without a process group)."""
        import torch.distributed as dist

        if self.distributed and dist.is_available() and dist.is_initialized():
            dist.barrier()

    def close(self) -> None:
        """Leave the process group if :func:`init_distributed` created it for this context."""
        import torch.distributed as dist

        if self.owns_group and dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def _whole_number(env: Mapping[str, str], name: str) -> Optional[int]:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise DistributedError(f"{name}={raw!r} is not a whole number; torchrun sets it for each process: "
                               f"{_HOW_TO_START}, or unset {name} to run as one process") from None


def torchrun_env(environ: Optional[Mapping[str, str]] = None) -> Optional[TorchrunEnv]:
    """The torchrun variables of ``environ`` (default ``os.environ``), checked; None for a plain process.

    Raises :class:`~wsss_zoo.errors.DistributedError` for a partial set, a value that is not a number, or
    numbers that contradict each other (see the module docstring).
    """
    env = os.environ if environ is None else environ
    present = {name: env[name].strip() for name in TORCHRUN_VARIABLES if env.get(name, "").strip()}
    if not any(name in present for name in _RANK_VARIABLES):
        return None
    numbers = {name: _whole_number(env, name) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    missing = [name for name in TORCHRUN_VARIABLES if name not in present]
    if missing:
        given = " ".join(f"{name}={present[name]}" for name in TORCHRUN_VARIABLES if name in present)
        raise DistributedError(
            f"{given} is set but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not: these variables "
            f"come from torchrun, which sets all of {', '.join(TORCHRUN_VARIABLES)}. To run distributed, "
            f"{_HOW_TO_START}; to run as one process, unset {' '.join(n for n in TORCHRUN_VARIABLES if n in present)}")
    rank, world, local, port = (numbers[n] for n in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"))
    if world < 1:
        raise DistributedError(f"WORLD_SIZE={world}: the number of processes must be at least 1")
    if not 0 <= rank < world:
        raise DistributedError(f"RANK={rank} is outside 0..{world - 1} (WORLD_SIZE={world}); {_HOW_TO_START}")
    if not 0 <= local <= rank:
        raise DistributedError(f"LOCAL_RANK={local} does not fit RANK={rank} (a local rank lies in 0..RANK); "
                               f"{_HOW_TO_START}")
    if not 1 <= port <= 65535:
        raise DistributedError(f"MASTER_PORT={port} is not a TCP port (1..65535)")
    return TorchrunEnv(rank, world, local, present["MASTER_ADDR"], port)


def init_timeout(environ: Optional[Mapping[str, str]] = None) -> float:
    """Seconds to wait for the peers when the group starts: ``WSSS_ZOO_DIST_TIMEOUT`` or the default."""
    env = os.environ if environ is None else environ
    raw = env.get("WSSS_ZOO_DIST_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_INIT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 7 * 24 * 3600:
        raise DistributedError(f"WSSS_ZOO_DIST_TIMEOUT={raw!r}: give the seconds to wait for the other ranks "
                               f"when the process group starts, e.g. {int(DEFAULT_INIT_TIMEOUT_S)}")
    return value


def rank_device(spec="auto", local_rank: int = 0) -> torch.device:
    """The device of a local rank: ``auto``/``cuda`` pick ``cuda:LOCAL_RANK`` (modulo the visible GPUs)."""
    dev = resolve_device(spec)
    if dev.type == "cuda" and dev.index is None:
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return dev


def init_distributed(device="auto", *, timeout: datetime.timedelta = DEFAULT_TIMEOUT,
                     init_timeout_s: Optional[float] = None,
                     environ: Optional[Mapping[str, str]] = None) -> DistContext:
    """This process's :class:`DistContext`; joins the process group when torchrun started several processes.

    ``device``: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` (see :func:`rank_device`). ``init_timeout_s``
    bounds the wait for the peers (default :func:`init_timeout`); ``timeout`` applies to the collectives
    afterwards. A group that is already initialised (a second call in the same process) is reused.
    """
    env = torchrun_env(environ)
    rank, world, local = (env.rank, env.world_size, env.local_rank) if env else (0, 1, 0)
    dev = rank_device(device, local)
    if world == 1:
        return DistContext(rank, world, local, dev)
    import torch.distributed as dist

    if dist.is_initialized():
        return DistContext(rank, world, local, dev)
    wait = init_timeout(environ) if init_timeout_s is None else float(init_timeout_s)
    own_gpu = dev.type == "cuda" and torch.cuda.device_count() > local
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    store = _rendezvous(env, wait)
    store.set_timeout(timeout)
    dist.init_process_group(backend="nccl" if own_gpu else "gloo", store=store, rank=rank, world_size=world,
                            timeout=timeout)
    return DistContext(rank, world, local, dev, owns_group=True)


def _rendezvous(env: TorchrunEnv, wait_s: float):
    """The torchrun store, once all ``WORLD_SIZE`` ranks have checked in, within ``wait_s`` seconds."""
    import torch.distributed as dist

    where = f"MASTER_ADDR:MASTER_PORT = {env.master_addr}:{env.master_port}"
    hint = (f"start all {env.world_size} ranks with torchrun (they share MASTER_ADDR and MASTER_PORT), or raise "
            "WSSS_ZOO_DIST_TIMEOUT=<seconds> if some start slowly")
    deadline = time.monotonic() + wait_s
    if env.rank != 0 or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
        _wait_for_server(env, deadline, where, hint)  # the store client would log C++ retries meanwhile
    try:
        host = f"[{env.master_addr}]" if ":" in env.master_addr else env.master_addr  # IPv6
        left = datetime.timedelta(seconds=max(1.0, deadline - time.monotonic()))
        store, _, _ = next(iter(dist.rendezvous(f"tcp://{host}:{env.master_port}", env.rank, env.world_size,
                                                timeout=left)))
    except (RuntimeError, TimeoutError, OSError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise DistributedError(f"rank {env.rank} of {env.world_size} could not meet the other ranks at {where} "
                               f"within {wait_s:g} s ({detail}); {hint}") from None
    # torchrun's own store (TORCHELASTIC_USE_AGENT_STORE) does not wait for the ranks: count them in here
    key = f"wsss_zoo/ready/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/{next(_inits)}"
    try:
        arrived = store.add(key, 1)
        while arrived < env.world_size:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{arrived} of {env.world_size} ranks arrived")
            time.sleep(0.05)
            arrived = store.add(key, 0)
    except (RuntimeError, TimeoutError, OSError) as exc:
        raise DistributedError(f"rank {env.rank} waited {wait_s:g} s at {where} for the other ranks "
                               f"({str(exc).strip()[:200]}); {hint}") from None
    return store


def _wait_for_server(env: TorchrunEnv, deadline: float, where: str, hint: str) -> None:
    """Poll MASTER_ADDR:MASTER_PORT until rank 0's store accepts connections, or fail at ``deadline``."""
    import socket

    while True:
        try:
            with socket.create_connection((env.master_addr, env.master_port), timeout=1.0):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise DistributedError(f"rank {env.rank} of {env.world_size} found no rank 0 at {where} "
                                       f"({exc.strerror or exc}); {hint}") from None
            time.sleep(0.1)

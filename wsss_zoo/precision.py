"""Precision modes of the network forwards: ``fp32`` (exact, the default), ``bf16``, ``fp16``, ``auto``.

* ``fp32`` reproduces the upstream code: no autocast; on CUDA with TF32 off (TF32 convolutions drop the
  DeepLab outputs below the 99.9 % agreement bar) and cuDNN in deterministic mode.
* ``bf16`` / ``fp16``: :func:`torch.autocast` around the network forwards only, the network and its
  inputs in channels-last memory format; everything after the network (resizing, fusion, normalisation,
  random walk, thresholds, CRF) stays float32 -- callers cast the forward's output with ``.float()``.
* ``auto``: bf16 where the CPU has AVX512-BF16 / AMX-BF16 or the GPU supports bfloat16, fp16 on older
  GPUs, fp32 otherwise; :func:`resolve_precision` says which it picked and why.

The measured agreement of the fast modes with fp32 is in the README (``benchmarks/bench_precision.py``).
"""
from __future__ import annotations

import contextlib
import functools
import platform
from typing import ContextManager, Tuple

from .errors import ConfigError

PRECISIONS = ("fp32", "bf16", "fp16", "auto")


@functools.lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """True when this CPU executes bfloat16 natively (x86 AVX512-BF16 or AMX-BF16, read from /proc/cpuinfo)."""
    if platform.system() != "Linux":
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            flags = set()
            for line in f:
                if line.startswith("flags"):
                    flags.update(line.split(":", 1)[1].split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_precision(spec, device) -> Tuple[str, str]:
    """``(precision, reason)`` for ``spec`` in :data:`PRECISIONS` on ``device`` (a ``torch.device``).

    Raises :class:`ConfigError` for a mode the device cannot run (bf16 on a CPU without bfloat16
    instructions, fp16 on a CPU), naming ``auto`` and ``fp32``.
    """
    import torch

    name = str(spec or "fp32").strip().lower()
    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {spec!r}; use one of {', '.join(PRECISIONS)}")
    dev = torch.device(device)
    if dev.type == "cuda":
        bf16 = torch.cuda.is_bf16_supported()
        if name == "auto":
            return ("bf16", "this GPU supports bfloat16") if bf16 else ("fp16", "this GPU has no bfloat16")
        if name == "bf16" and not bf16:
            raise ConfigError(f"precision 'bf16': {torch.cuda.get_device_name(dev)} does not support bfloat16; "
                              "use 'fp16', 'auto' or 'fp32'")
        return name, "as requested"
    if dev.type == "cpu":
        if name == "auto":
            return (("bf16", "this CPU has AVX512-BF16/AMX-BF16") if cpu_supports_bf16()
                    else ("fp32", "this CPU has no bfloat16 instructions"))
        if name == "fp16":
            raise ConfigError("precision 'fp16' is for GPUs (float16 on a CPU is slow and inexact); use 'auto' "
                              "(bf16 where the CPU supports it) or 'fp32'")
        if name == "bf16" and not cpu_supports_bf16():
            raise ConfigError("precision 'bf16' needs a CPU with AVX512-BF16 or AMX-BF16 instructions, which this "
                              "one lacks; use 'auto' or 'fp32'")
        return name, "as requested"
    if name in ("auto", "fp32"):
        return "fp32", f"no reduced precision on {dev.type}"
    raise ConfigError(f"precision {name!r} is not supported on {dev.type}; use 'auto' or 'fp32'")


def apply_precision(model, precision: str):
    """Record ``precision`` on a network (read by :func:`forward_context`); for bf16/fp16 the network goes
    channels-last and its convolution / linear weights are cast once, not per forward (:mod:`.weight_casts`)."""
    import torch

    from .weight_casts import cast_weights_once, restore_weights

    model.wsss_zoo_precision = precision
    model.to(memory_format=torch.channels_last if precision != "fp32" else torch.contiguous_format)
    return restore_weights(model) if precision == "fp32" else cast_weights_once(model)


def precision_of(model) -> str:
    return getattr(model, "wsss_zoo_precision", "fp32")


def input_memory_format(model):
    """The memory format a network's inputs should have: channels-last in the reduced-precision modes."""
    import torch

    return torch.channels_last if precision_of(model) != "fp32" else torch.contiguous_format


def forward_context(model) -> ContextManager:
    """The context for a forward pass of ``model``: autocast in bf16/fp16; exact float32 otherwise."""
    import torch

    device = _device_of(model)
    precision = precision_of(model)
    if precision in ("bf16", "fp16"):
        return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
    if device.type == "cuda":
        return _exact_cuda()
    return contextlib.nullcontext()


@contextlib.contextmanager
def _exact_cuda():
    """Float32 convolutions and matmuls without TF32, deterministic cuDNN algorithms."""
    import torch

    matmul = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True, allow_tf32=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul


def _device_of(model):
    import torch

    for p in model.parameters():
        return p.device
    return torch.device("cpu")

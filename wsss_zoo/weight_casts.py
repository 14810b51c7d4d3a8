"""Cast each weight to the autocast dtype once, not on every forward (the ``bf16`` / ``fp16`` modes).

Under :func:`torch.autocast` a float32 convolution or linear weight is cast to bfloat16 / float16 on every
call (autocast keeps its cast cache only for weights that require gradients, and only until the outermost
autocast region ends). For a network run image after image that is pure waste: on the 2-core test CPU the
casts are ~10 % of a DeepLab-V3+ bf16 forward. :func:`cast_weights_once` swaps the plain ``nn.Conv2d`` /
``nn.Linear`` modules of a network for subclasses that, inside autocast and without autograd, use a
cached low-precision copy of their weight and bias -- the same values autocast's own cast gives
(``tensor.to(dtype)``), so the outputs are bit-identical. The copy is remade when the weight changes
(its storage, version counter or device: ``load_state_dict``, an optimiser step, ``.to(device)``); with
autograd on (RIB's per-image fine-tuning) the modules run as plain PyTorch. The swapped modules keep their
parameters, state-dict keys and printed names; :func:`restore_weights` puts the plain classes back.

The copies cost half the network's float32 size in memory while the fast mode is on.
"""
from __future__ import annotations

import weakref
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

_COPIES: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


def _autocast_dtype(device_type: str) -> Optional[torch.dtype]:
    """The dtype autocast casts to right now on ``device_type``, or None when a plain forward is due."""
    if torch.is_grad_enabled():
        return None
    if hasattr(torch, "get_autocast_dtype"):  # torch >= 2.4
        return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else None
    if device_type == "cpu":
        return torch.get_autocast_cpu_dtype() if torch.is_autocast_cpu_enabled() else None
    return torch.get_autocast_gpu_dtype() if device_type == "cuda" and torch.is_autocast_enabled() else None


def _stamp(t: Optional[torch.Tensor]):
    return None if t is None else (t.data_ptr(), t._version, t.device, t.dtype)


def low_precision_params(module: nn.Module) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """``(weight, bias)`` for this call: the cached autocast-dtype copies inside autocast without autograd
    (made or remade here), else the parameters themselves."""
    weight, bias = module.weight, module.bias
    dtype = _autocast_dtype(weight.device.type)
    if dtype is None or weight.dtype != torch.float32:
        return weight, bias
    stamp = (dtype, _stamp(weight), _stamp(bias))
    cached = _COPIES.get(module)
    if cached is None or cached[0] != stamp or cached[1]() is not weight:
        cached = (stamp, weakref.ref(weight), weight.detach().to(dtype),
                  None if bias is None else bias.detach().to(dtype))
        _COPIES[module] = cached
    return cached[2], cached[3]


class CastOnceConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose autocast forward uses the weight copy of :func:`low_precision_params`."""

    def _conv_forward(self, input, weight, bias):
        if weight is self.weight:
            weight, bias = low_precision_params(self)
        return super()._conv_forward(input, weight, bias)

    def _get_name(self):
        return "Conv2d"


class CastOnceLinear(nn.Linear):
    """``nn.Linear`` whose autocast forward uses the weight copy of :func:`low_precision_params`."""

    def forward(self, input):
        weight, bias = low_precision_params(self)
        return F.linear(input, weight, bias)

    def _get_name(self):
        return "Linear"


_SWAPS = {nn.Conv2d: CastOnceConv2d, nn.Linear: CastOnceLinear}
_PLAIN = {v: k for k, v in _SWAPS.items()}


def cast_weights_once(model: nn.Module) -> nn.Module:
    """Swap the network's plain ``nn.Conv2d`` / ``nn.Linear`` modules (exact type; subclasses with their
    own forward are left alone) for the cast-once classes. Returns ``model``."""
    for m in model.modules():
        swap = _SWAPS.get(type(m))
        if swap is not None:
            m.__class__ = swap
    return model


def restore_weights(model: nn.Module) -> nn.Module:
    """Put the plain classes back and drop the copies. Returns ``model``."""
    for m in model.modules():
        plain = _PLAIN.get(type(m))
        if plain is not None:
            m.__class__ = plain
            _COPIES.pop(m, None)
    return model

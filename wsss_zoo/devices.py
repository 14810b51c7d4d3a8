"""The one rule that turns a device spec into a ``torch.device``, shared by the Python API and the CLI.

``"auto"`` (the default everywhere) is the first CUDA device when one is visible, else the CPU; ``"cpu"``,
``"cuda"``, ``"cuda:N"`` and ``"mps"`` are checked against what this machine has, so asking for a GPU that
is not there is a :class:`~wsss_zoo.errors.ConfigError` saying what to use instead, not a CUDA traceback.
"""
from __future__ import annotations

from typing import Union

from .errors import ConfigError

DeviceSpec = Union[str, "torch.device", None]


def resolve_device(spec: DeviceSpec = "auto") -> "torch.device":
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps`` (or a ``torch.device``) -> a usable ``torch.device``."""
    import torch

    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "auto")):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = spec if isinstance(spec, torch.device) else torch.device(str(spec).strip())
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r}: CUDA is not available here (torch {torch.__version__}); "
                              "use device='cpu' or 'auto' (CLI: --device cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"device {spec!r}: MPS is not available here; use device='cpu' or 'auto'")
    elif dev.type != "cpu":
        raise ConfigError(f"device {spec!r} is not supported; use auto, cpu, cuda, cuda:N or mps")
    return dev



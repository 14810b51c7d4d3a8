"""Builders of the network families: ``@register_model(name)`` in a family module, :func:`build_model` on an entry.

Like timm's ``@register_model``: a family module registers one small builder per architecture name; a
registry entry's ``architecture.builder`` names it and ``architecture.kwargs`` fills its arguments.
"""
from __future__ import annotations

from typing import Callable, List

import torch

from ..registry import ModelEntry, Registry
from ..registry.entries import thawed

ARCHITECTURES: Registry[Callable[..., torch.nn.Module]] = Registry(
    "architecture", packages=("wsss_zoo.models",), hint="see wsss_zoo.models.list_architectures()")


def register_model(name: str):
    """Decorator registering ``fn(**kwargs) -> nn.Module`` as the builder of architecture ``name``."""
    return ARCHITECTURES.register(name)


def list_architectures() -> List[str]:
    return ARCHITECTURES.names()


def build_model(entry: ModelEntry, **overrides) -> torch.nn.Module:
    """The randomly initialised network of a registry entry (builder kwargs, then ``overrides``)."""
    kwargs = thawed(entry.builder_kwargs)
    kwargs.update(overrides)
    return ARCHITECTURES.get(entry.builder)(**kwargs)

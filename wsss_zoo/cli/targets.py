"""The one loader of what a command runs: a name -> its registry entry, checked against the command ->
a loaded network or pipeline on the chosen device, in the chosen precision, with ``--set`` settings and
``--weights`` files. Image and folder runs, dataset-split runs and ``compare`` all load through
:func:`prepare` (every check, nothing loaded) then :meth:`TargetSpec.load`.

Dataset-split runs also take ``package.module:factory``: a custom object with ``.pseudo_mask`` / ``.cam``
/ ``.segment`` (the module is imported, as ``python -m`` would).
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, replace
from typing import List, Optional

from ..errors import ConfigError, UnknownNameError
from .options import Runtime, parse_settings, weights_for


@dataclass
class Target:
    """A loaded network or pipeline (``kind``: network, pipeline or custom) with what the commands need."""

    name: str
    kind: str
    obj: object
    entry: object
    cam_style: str

    @property
    def dataset(self) -> str:
        return getattr(self.entry, "dataset", None)


@dataclass(frozen=True)
class TargetSpec:
    """A checked request to load ``name`` for ``command``: entry, weights and settings already validated."""

    name: str
    command: str
    entry: object                 # ModelEntry / PipelineEntry, None for a custom factory
    weights: object               # None, a path, or {role: path}
    settings: dict
    runtime: Runtime

    def load(self, device=None) -> Target:
        """Load it (downloads what is not cached); ``device`` overrides the runtime's (a torchrun rank's GPU)."""
        from .. import api
        from ..data.generate import cam_style

        runtime = self.runtime if device is None else replace(self.runtime, device=device)
        if self.entry is None:
            obj = _factory(self.name)
            return Target(self.name, "custom", obj, None, cam_style(obj))
        if self.entry.kind == "pipeline":
            obj = api.load_pipeline(self.name, self.weights, device=runtime.device, precision=runtime.precision,
                                    **self.settings)
        else:
            obj = api.load(self.name, self.weights, device=runtime.device, precision=runtime.precision)
        return Target(self.name, self.entry.kind, obj, self.entry, cam_style(obj))


def prepare(name: str, command: str, runtime: Runtime, *, strict_weights: bool = True,
            factories: bool = False) -> TargetSpec:
    """Check that ``name`` fits ``command`` and that ``--weights``/``--set``/``--scales`` fit ``name``,
    before any download or load. ``factories``: also accept ``package.module:factory`` (dataset runs)."""
    from ..registry import is_model, is_pipeline

    if factories and ":" in name and not (is_model(name) or is_pipeline(name)):
        if runtime.weights or runtime.settings or runtime.precision != "fp32":
            raise ConfigError(f"--weights, --set and --precision apply to registry names; {name} builds its own "
                              "object")
        return TargetSpec(name, command, None, None, {}, runtime)
    entry = check_target(name, command)
    if entry.kind == "pipeline":
        if runtime.scales is not None or runtime.flip is not None:
            raise ConfigError(f"--scales/--flip apply to networks; {name} runs its method's own settings "
                              "(change them with --set KEY=VALUE)")
    settings = parse_settings(runtime.settings, entry)
    weights = weights_for(entry, runtime.weights, strict=strict_weights)
    return TargetSpec(name, command, entry, weights, settings, runtime)


def check_target(name: str, command: str):
    """The registry entry of ``name`` if it can run ``command``; an UnknownNameError naming what can."""
    from ..registry import entry as registry_entry
    from ..registry import list_pipelines, pipelines_using

    entry = registry_entry(name)  # UnknownNameError with close matches
    if entry.kind == "pipeline":
        if command == "segment":
            raise UnknownNameError(f"{name} is a pseudo-mask pipeline; segment takes a segmentation network: "
                                   + ", ".join(_models_with("segment")))
        return entry
    if command == "pseudo-mask":
        users = pipelines_using(name)
        hint = " or ".join(users) if users else ", ".join(list_pipelines())
        raise UnknownNameError(f"{name} is a network; pseudo masks come from pipelines: use {hint}")
    if getattr(entry.inference, "cam" if command == "cam" else "segment") is None:
        what = "CAM networks or pipelines" if command == "cam" else "segmentation networks"
        raise UnknownNameError(f"{name} is a {entry.task} network, not one of the {what}: "
                               + ", ".join(_models_with(command)))
    return entry


def _models_with(kind: str) -> List[str]:
    from ..registry import models

    return [e.name for e in models() if getattr(e.inference, kind) is not None]


def _factory(spec: str):
    """``package.module:attr``: the attribute, called when it is a class or a function."""
    module, _, attr = spec.partition(":")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"cannot import {spec!r} ({exc}); give a registry name (wsss-zoo list) or "
                          "package.module:factory of an importable module") from None
    return obj() if inspect.isclass(obj) or inspect.isfunction(obj) else obj


def target_name(args, command: str) -> Optional[str]:
    """NAME, from the positional or from ``--pipeline``/``--model`` (other spellings of it)."""
    flagged = getattr(args, "name_option", None)
    if flagged and args.name and args.input is None and flagged != args.name:
        args.input, args.name = args.name, flagged  # "--pipeline P INPUT": the positional is the input
    elif flagged and args.name and flagged != args.name:
        raise ConfigError(f"NAME given twice ({args.name} and {flagged}); give it once")
    return args.name or flagged

"""The grammar of the options shared by the commands that run networks, and its one reading.

``--weights`` (every form, every mode: image, folder, dataset split, compare), ``--set KEY=VALUE``
(validated by the pipeline's settings schema before anything loads), ``--scales``/``--flip``,
``--device`` (:func:`wsss_zoo.devices.resolve_device`) and ``--precision``
(:func:`wsss_zoo.precision.resolve_precision`) are declared by :func:`add_network_options` and read
into a :class:`Runtime` by :func:`runtime`. Guide: docs/cli.md, "Conventions shared by the commands".
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

from ..errors import ConfigError
from ..precision import PRECISIONS
from .messages import note

NETWORK_COMMANDS = ("cam", "pseudo-mask", "segment")


def add_network_options(parser, command: str) -> None:
    """``--device``, ``--precision``, ``--weights`` (all commands that run networks), ``--set`` (cam,
    pseudo-mask), ``--scales``/``--flip`` (cam) and ``--no-progress``."""
    g = parser.add_argument_group("running")
    g.add_argument("--device", default="auto",
                   help="auto (CUDA if available), cpu, cuda, cuda:N or mps (default: auto; under torchrun, "
                        "auto and cuda mean this rank's GPU)")
    g.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="network forwards in fp32 (exact, the upstream outputs), bf16, fp16 (GPUs) or auto "
                        "(the fastest this device runs well; says which) (default: fp32)")
    g.add_argument("--weights", action="append", default=[], metavar="[KEY=]PATH",
                   help="local weights instead of the download: PATH (a network, or a one-network pipeline), "
                        "ROLE=PATH, NETWORK=PATH or PIPELINE:ROLE=PATH (repeatable)")
    if command in ("cam", "pseudo-mask"):
        g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="pipelines only: override an upstream setting, e.g. bg_threshold=0.25 "
                            "(JSON value, else text; see wsss-zoo info NAME)")
    if command == "cam":
        g.add_argument("--scales", help="networks only: comma-separated test-time scales (default: the method's)")
        g.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                       help="networks only: add horizontally flipped passes (default: the method's)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar (bars are drawn on a terminal only)")


# --------------------------------------------------------------------------- the runtime of a command
@dataclass(frozen=True)
class Runtime:
    """What the network-running options of one command resolve to (checked, nothing loaded yet)."""

    device: object                       # torch.device
    precision: str                       # the mode in use: fp32, bf16 or fp16
    weights: Tuple[str, ...] = ()        # raw --weights values
    settings: Tuple[str, ...] = ()       # raw --set pairs
    scales: Optional[Tuple[float, ...]] = None
    flip: Optional[bool] = None


def runtime(args, *, announce: bool = True) -> Runtime:
    """Check ``--device``, ``--precision``, ``--scales`` of ``args``; with ``--precision auto`` say (once, on
    stderr, unless ``--quiet`` or not ``announce``) which mode it picked and why."""
    from ..devices import resolve_device
    from ..precision import resolve_precision

    device = resolve_device(getattr(args, "device", "auto"))
    spec = getattr(args, "precision", "fp32")
    mode, reason = resolve_precision(spec, device)
    if spec == "auto" and announce:
        note(args, f"--precision auto: {mode} ({reason})")
    return Runtime(device, mode, tuple(getattr(args, "weights", None) or ()), tuple(getattr(args, "set", None) or ()),
                   parse_scales(getattr(args, "scales", None)), getattr(args, "flip", None))


def parse_scales(text: Optional[str]) -> Optional[Tuple[float, ...]]:
    """``"1.0,0.5,1.5"`` -> ``(1.0, 0.5, 1.5)``; positive numbers only."""
    if text is None:
        return None
    try:
        scales = tuple(float(s) for s in text.replace(" ", "").split(",") if s)
    except ValueError:
        raise ConfigError(f"--scales expects numbers separated by commas (e.g. 1.0,0.5,1.5,2.0), "
                          f"got {text!r}") from None
    if not scales or any(not s > 0 or s == float("inf") for s in scales):
        raise ConfigError(f"--scales must be positive numbers, got {text!r}")
    return scales


def parse_settings(pairs: Sequence[str], entry) -> dict:
    """``["bg_threshold=0.25", ...]`` -> ``{"bg_threshold": 0.25}`` (JSON values, else text), checked against
    the settings schema of the pipeline class of ``entry``: unknown keys (with the closest names), wrong
    types, out-of-range values and nulls are :class:`ConfigError` before anything loads."""
    from ..pipelines.base import pipeline_class

    out = {}
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            out[key] = raw
    if out and getattr(entry, "kind", None) != "pipeline":
        raise ConfigError("--set changes pipeline settings; networks take --scales/--flip (cam) instead")
    if out:
        pipeline_class(entry.recipe).resolve_settings(entry, out)
    return out


# --------------------------------------------------------------------------- --weights
Weights = Union[None, str, Dict[str, str]]


def split_weight(value: str) -> Tuple[Optional[str], str]:
    """``"cam=path"`` / ``"eps_voc:cam=path"`` / ``"path"`` -> (key or None, path). A value that is an existing
    file, or whose part before ``=`` holds a path separator, is a plain path."""
    key, sep, path = value.partition("=")
    if sep and key and not os.path.exists(value) and "/" not in key and os.sep not in key:
        return key.strip(), path
    return None, value


def weights_for(entry, values: Sequence[str], *, strict: bool = True) -> Weights:
    """The ``--weights`` of one network or pipeline ``entry``: a path (network), ``{role: path}`` (pipeline),
    or None. Forms: ``PATH`` (a network, or a pipeline with one role), ``ROLE=PATH``, ``NETWORK=PATH``
    (every role that network fills), ``PIPELINE:ROLE=PATH``. With ``strict=False`` (compare, where the
    values serve several methods), values that name something else are skipped instead of refused."""
    if getattr(entry, "kind", None) == "pipeline":
        return _pipeline_weights(entry, values, strict) or None
    return _network_weights(entry.name, values, strict)


def _network_weights(name: str, values: Sequence[str], strict: bool) -> Optional[str]:
    chosen = None
    for value in values or ():
        key, path = split_weight(value)
        if key == name or (key is None and strict):
            if chosen is not None:
                raise ConfigError(f"--weights given twice for {name}")
            chosen = path
        elif strict:
            raise ConfigError(f"--weights {value!r}: {key!r} is not {name}; give the file as --weights PATH")
    return chosen


def _pipeline_weights(entry, values: Sequence[str], strict: bool) -> Dict[str, str]:
    roles, name = dict(entry.roles), entry.name
    out: Dict[str, str] = {}
    for value in values or ():
        key, path = split_weight(value)
        if key is None:
            if len(roles) != 1:
                if strict:
                    raise ConfigError(f"{name} has roles {', '.join(roles)}: give --weights ROLE=PATH for each")
                continue
            if not strict:
                continue
            role = next(iter(roles))
        elif ":" in key:
            pipe, _, role = key.partition(":")
            if pipe != name:
                if strict:
                    raise ConfigError(f"--weights {value!r} is for {pipe}, not {name}")
                continue
        elif key in roles:
            role = key
        else:
            matches = [r for r, model in roles.items() if model == key]
            if not matches:
                if strict:
                    raise ConfigError(f"--weights {value!r}: {name} has no role or network {key!r}; roles: "
                                      + ", ".join(f"{r} ({m})" for r, m in roles.items()))
                continue
            role = matches[0]
        if role not in roles:
            raise ConfigError(f"--weights {value!r}: {name} has no role {role!r}; roles: {', '.join(roles)}")
        for r, model in roles.items():
            if r == role or key == model:
                out[r] = path
    return out


def check_compare_weights(values: Sequence[str], names: Sequence[str]) -> None:
    """In ``compare`` each ``--weights`` must say what it is for: ``NETWORK=PATH`` or ``PIPELINE:ROLE=PATH``
    of a compared pipeline."""
    from ..registry import is_model

    for value in values or ():
        key, _ = split_weight(value)
        pipe = key.partition(":")[0] if key and ":" in key else None
        if (key is None or not (is_model(key) or pipe)) or (pipe and pipe not in names):
            raise ConfigError(f"--weights {value!r}: compare runs several methods, so name the network "
                              "(--weights cda_irn_resnet50_voc=PATH) or a compared pipeline's role "
                              "(--weights cda_irn_voc:cam=PATH)")


# --------------------------------------------------------------------------- dataset splits
def add_dataset_arguments(parser, *, roots_required: bool = True) -> None:
    """The dataset options of ``eval`` and of the dataset-split runs of ``cam``/``pseudo-mask``/``segment``
    (``roots_required=False``: those commands also take an image or a folder instead)."""
    roots = parser.add_mutually_exclusive_group(required=roots_required)
    roots.add_argument("--voc-root", metavar="DIR", help="VOCdevkit/VOC2012 (JPEGImages, Annotations, "
                       "SegmentationClass[Aug], ImageSets)")
    roots.add_argument("--coco-root", metavar="DIR", help="COCO 2014 root in the EPS or RIB layout")
    parser.add_argument("--split", default=None, required=roots_required,
                        help="train | val | trainval | train_aug (VOC); train | val (COCO)"
                             + ("" if roots_required else " (default: train)"))
    parser.add_argument("--split-file", metavar="LIST", help="image list to use instead of the split's")
    parser.add_argument("--cls-labels", metavar="NPY", help="upstream cls_labels.npy to take image labels from "
                        "(default: VOC Annotations/*.xml; COCO annotations json or GT masks)")
    parser.add_argument("--coco-layout", choices=("auto", "eps", "rib"), default="auto",
                        help="COCO folder layout (default: detected)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="use only the first N images")


def dataset_from_args(args, **options):
    """Open the dataset split named by the :func:`add_dataset_arguments` options (``--limit`` applied)."""
    from ..data import open_dataset
    from ..errors import DatasetError

    common = {"split_file": getattr(args, "split_file", None), "cls_labels": getattr(args, "cls_labels", None)}
    common.update(options)
    if not getattr(args, "voc_root", None) and not getattr(args, "coco_root", None):
        raise DatasetError("give the dataset root: --voc-root DIR (VOCdevkit/VOC2012) or --coco-root DIR")
    split = getattr(args, "split", None) or "train"
    if getattr(args, "voc_root", None):
        ds = open_dataset("voc", args.voc_root, split, **common)
    else:
        common.setdefault("layout", getattr(args, "coco_layout", "auto"))
        common.pop("gt", None)
        ds = open_dataset("coco", args.coco_root, split, **common)
    limit = getattr(args, "limit", None)
    if limit is not None:
        if limit < 1:
            raise DatasetError("--limit must be a positive number of images")
        ds = ds.subset(ds.ids[:limit])
    return ds


def is_dataset_run(args) -> bool:
    return bool(getattr(args, "voc_root", None) or getattr(args, "coco_root", None))


#: options of cam/pseudo-mask/segment that only one input mode reads: (dest, flag, value when not given)
IMAGE_ONLY = (("labels", "--labels", None), ("labels_file", "--labels-file", None), ("recursive", "--recursive", False),
              ("skip_existing", "--skip-existing", False), ("no_viz", "--no-viz", False), ("cmap", "--cmap", "jet"),
              ("scales", "--scales", None), ("flip", "--flip/--no-flip", None))
DATASET_ONLY = (("split", "--split", None), ("split_file", "--split-file", None), ("cls_labels", "--cls-labels", None),
                ("coco_layout", "--coco-layout", "auto"), ("limit", "--limit", None),
                ("cam_format", "--cam-format", "auto"), ("crop_val", "--crop-val", None),
                ("overwrite", "--overwrite", False), ("keep_going", "--keep-going", False),
                ("workers", "--workers", None))


def check_mode(args) -> None:
    """Refuse options that the chosen input mode (image/folder, or dataset split) would not read."""
    dataset = is_dataset_run(args)
    wrong = [flag for dest, flag, unset in (IMAGE_ONLY if dataset else DATASET_ONLY)
             if getattr(args, dest, unset) != unset]
    if not wrong:
        return
    verb = "applies" if len(wrong) == 1 else "apply"
    if dataset:
        raise ConfigError(f"{', '.join(wrong)} {verb} to an image or a folder, not to a dataset split "
                          "(--voc-root/--coco-root), which reads its labels from the dataset (--cls-labels)")
    raise ConfigError(f"{', '.join(wrong)} {verb} to a dataset split: add --voc-root DIR or --coco-root DIR")

"""Commands of ``wsss-zoo`` that run networks on images: ``cam``, ``pseudo-mask``, ``segment`` on an
image or a folder, and ``compare`` (one image through several methods in one PNG grid).

Dataset splits go to :mod:`wsss_zoo.data.generate`; the parser and the exit codes live in
:mod:`wsss_zoo.cli`. Guide: docs/cli.md.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .errors import (ConfigError, DatasetError, InvalidImageError, InvalidLabelsError, SaliencyError,
                     UnknownNameError, WsssZooError)
from .sources import collect_images, labels_in_table, read_labels_file, saliency_in_folder

PROG = "wsss-zoo"
EXIT_OK = 0
#: errors that concern one image of a batch: the batch goes on without it
PER_IMAGE_ERRORS = (InvalidImageError, InvalidLabelsError, SaliencyError, DatasetError)


class PartialFailure(Exception):
    """Some items of a batch failed (already reported); the command exits with code 3."""


# --------------------------------------------------------------------------- messages
def say(args, *lines) -> None:
    if not getattr(args, "quiet", False):
        for line in lines:
            print(line)


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


#: Python-API wording in error messages -> the command line's
_CLI_WORDING = (("see wsss_zoo.list_models()", "see wsss-zoo list"),
                ("see wsss_zoo.list_pipelines()", "see wsss-zoo list --pipelines"),
                ("pass weights=<path to the downloaded file>", "pass --weights PATH"),
                ("or pass weights=<path>", "or pass --weights PATH"),
                ("use crf=False", "drop --crf"), ("call with crf=False", "drop --crf"))


def error_text(exc: BaseException) -> str:
    """The message of an error in command-line words; extra lines are indented under the first."""
    text = str(exc).strip() or type(exc).__name__
    for api_words, cli_words in _CLI_WORDING:
        text = text.replace(api_words, cli_words)
    return text.replace("\n", "\n  ")


def _progress(items, args, desc: str):
    """A tqdm bar over a batch (on stderr, only on a terminal and for more than one item)."""
    from tqdm.auto import tqdm

    quiet = getattr(args, "quiet", False) or len(items) < 2
    return tqdm(items, desc=desc, unit="img", disable=True if quiet else None, dynamic_ncols=True)


# --------------------------------------------------------------------------- options
def parse_settings(pairs: Sequence[str], entry) -> dict:
    """``["bg_threshold=0.25", ...]`` -> ``{"bg_threshold": 0.25}``, validated by the pipeline's settings schema
    (names, types, ranges) before anything loads."""
    from .pipelines.base import pipeline_class

    out = {}
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    pipeline_class(entry.recipe).resolve_settings(entry, out)
    return out


def parse_scales(text: Optional[str]) -> Optional[Tuple[float, ...]]:
    if text is None:
        return None
    try:
        scales = tuple(float(s) for s in text.replace(" ", "").split(",") if s)
    except ValueError:
        raise ConfigError(f"--scales expects numbers separated by commas (e.g. 1.0,0.5,1.5,2.0), "
                          f"got {text!r}") from None
    if not scales or any(s <= 0 for s in scales):
        raise ConfigError(f"--scales must be positive numbers, got {text!r}")
    return scales


# --------------------------------------------------------------------------- weights
def _split_weight(value: str) -> Tuple[Optional[str], str]:
    """``"cam=path"`` / ``"eps_voc:cam=path"`` / ``"path"`` -> (key or None, path)."""
    key, sep, path = value.partition("=")
    if sep and key and not os.path.exists(value) and "/" not in key and os.sep not in key:
        return key.strip(), path
    return None, value


def weights_for_model(name: str, values: Sequence[str], *, strict: bool = True) -> Optional[str]:
    """The ``--weights`` file of a single network: a plain path, or ``NAME=PATH``. With ``strict=False``
    (compare), only ``NAME=PATH`` counts and other keys are ignored."""
    chosen = None
    for value in values or ():
        key, path = _split_weight(value)
        if key == name or (key is None and strict):
            if chosen is not None:
                raise ConfigError(f"--weights given twice for {name}")
            chosen = path
        elif strict:
            raise ConfigError(f"--weights {value!r}: {key!r} is not {name}; give the file as --weights PATH")
    return chosen


def weights_for_pipeline(entry, values: Sequence[str], *, strict: bool = True) -> Dict[str, str]:
    """``{role: path}`` from ``--weights ROLE=PATH``, ``MODEL=PATH``, ``PIPELINE:ROLE=PATH`` (or a plain
    path when the pipeline has a single role). With ``strict=False`` (compare), keys naming other
    pipelines or networks are ignored."""
    roles, name = dict(entry.roles), entry.name
    out: Dict[str, str] = {}
    for value in values or ():
        key, path = _split_weight(value)
        if key is None:
            if len(roles) != 1 or not strict:
                if strict:
                    raise ConfigError(f"{name} has roles {', '.join(roles)}: give --weights ROLE=PATH for each")
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
            if r == role or (key == model):
                out[r] = path
    return out


# --------------------------------------------------------------------------- inputs
def _labels_of(args, stem: str, table: Optional[dict]):
    if table is None:
        return args.labels
    return labels_in_table(table, stem, args.labels_file)


def _saliency_of(args, image_path: Path, stem: str, single: bool):
    """The saliency map of one image: --saliency FILE for one image, a folder of NAME.png otherwise."""
    if not getattr(args, "saliency", None):
        return None
    sal = Path(args.saliency).expanduser()
    if sal.is_file():
        if not single:
            raise SaliencyError(f"--saliency {sal} is a file but the input is a folder; give a folder of saliency maps")
        return sal
    if sal.is_dir():
        return saliency_in_folder(sal, stem, image_path)
    raise SaliencyError(f"--saliency {sal} does not exist")


# --------------------------------------------------------------------------- targets
class Target:
    """A loaded network or pipeline with what the commands need to know about it."""

    def __init__(self, name: str, kind: str, obj, entry, cam_style: str):
        self.name, self.kind, self.obj, self.entry, self.cam_style = name, kind, obj, entry, cam_style
        self.dataset = entry.dataset


def _models_with(kind: str) -> List[str]:
    from .registry import models

    return [e.name for e in models() if getattr(e.inference, kind) is not None]


def check_target(name: str, command: str):
    """The registry entry of ``name`` if it can run ``command``; a helpful UnknownNameError otherwise."""
    from .registry import entry as registry_entry
    from .registry import pipelines_using

    entry = registry_entry(name)  # UnknownNameError with close matches
    if entry.kind == "pipeline":
        if command == "segment":
            raise UnknownNameError(f"{name} is a pseudo-mask pipeline; segment takes a segmentation network: "
                                   + ", ".join(_models_with("segment")))
        return entry
    if command == "pseudo-mask":
        users = pipelines_using(name)
        hint = " or ".join(users) if users else ", ".join(_all_pipelines())
        raise UnknownNameError(f"{name} is a network; pseudo masks come from pipelines: use {hint}")
    if getattr(entry.inference, "cam" if command == "cam" else "segment") is None:
        what = "CAM networks or pipelines" if command == "cam" else "segmentation networks"
        raise UnknownNameError(f"{name} is a {entry.task} network, not one of the {what}: "
                               + ", ".join(_models_with(command)))
    return entry


def load_target(name: str, command: str, args, *, strict_weights: bool = True) -> Target:
    """Check that ``name`` fits ``command`` (before any download), then load it on the chosen device."""
    from .data import generate

    entry = check_target(name, command)
    values = getattr(args, "weights", None)
    if entry.kind == "pipeline":
        if getattr(args, "scales", None) or getattr(args, "flip", None) is not None:
            raise ConfigError(f"--scales/--flip apply to networks; {name} runs its method's own settings "
                              "(change them with --set KEY=VALUE)")
        settings = parse_settings(getattr(args, "set", None), entry)
        weights = weights_for_pipeline(entry, values, strict=strict_weights) or None
        kind = "pipeline"
    else:
        if getattr(args, "set", None):
            raise ConfigError("--set changes pipeline settings; networks take --scales/--flip (cam) instead")
        settings, weights, kind = None, weights_for_model(name, values, strict=strict_weights), "network"
    obj = generate.load_target(command, name, weights=weights, device=args.device_resolved, settings=settings)
    return Target(name, kind, obj, entry, generate.cam_style(obj))


def _all_pipelines() -> List[str]:
    from .registry import list_pipelines

    return list_pipelines()


# --------------------------------------------------------------------------- image commands
def _compute(target: Target, command: str, image, labels, args, saliency=None):
    """Run one image: CAMs [K, H, W] for ``cam``, a label map [H, W] otherwise."""
    from . import api

    if command == "cam":
        if target.kind == "pipeline":
            return target.obj.cam(image, labels)
        return api.cam(target.obj, image, labels, scales=parse_scales(args.scales), flip=args.flip)
    if command == "pseudo-mask":
        return target.obj.pseudo_mask(image, labels, saliency=saliency, crf=args.crf)
    return api.segment(target.obj, image, crf=args.crf)


def _output_paths(out: Path, stem: str, command: str, viz: bool) -> Dict[str, Path]:
    paths = {"data": out / (stem + (".npy" if command == "cam" else ".png"))}
    if viz:
        paths["viz"] = out / (stem + ("_cam.png" if command == "cam" else "_overlay.png"))
    return paths


def _write_outputs(target: Target, command: str, image, labels, result, paths: Dict[str, Path], args) -> None:
    from . import viz
    from .data.io import write_cam_npy, write_label_png
    from .inputs import parse_labels

    if command == "cam":
        ids = parse_labels(labels, target.dataset)
        cams = result.numpy()
        write_cam_npy(paths["data"], ids, cams, style=target.cam_style)
        if "viz" in paths:
            viz.save_png(viz.cam_figure(image, cams, ids, target.dataset, cmap=args.cmap), paths["viz"])
    else:
        write_label_png(paths["data"], result)
        if "viz" in paths:
            ids = parse_labels(labels, target.dataset) if labels is not None else None
            viz.save_png(viz.overlay_mask(image, result, target.dataset, labels=ids,
                                          note="dense CRF applied (--crf)" if args.crf else None), paths["viz"])


def _prepare_out(path) -> Path:
    out = Path(path).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the output folder {out}: {exc.strerror or exc}; "
                          "choose another --out") from None
    if not os.access(out, os.W_OK):
        raise ConfigError(f"the output folder {out} is not writable; choose another --out")
    return out


def run_images(args, command: str) -> int:
    """``cam`` / ``pseudo-mask`` / ``segment`` on an image or a folder of images."""
    from .inputs import load_image, parse_labels

    if args.input is None:
        raise ConfigError(f"give an image or a folder (or a dataset split: --voc-root/--coco-root); "
                          f"see {PROG} {command} --help")
    items = collect_images(args.input, args.recursive)
    single = Path(args.input).is_file()
    table = read_labels_file(args.labels_file) if getattr(args, "labels_file", None) else None
    entry = check_target(args.name, command)  # fail on wrong names before loading anything
    if command != "segment":
        if table is None and not args.labels:
            raise InvalidLabelsError("give the image-level labels: --labels bicycle,person (names or ids), "
                                     "or --labels-file FILE for a folder")
        if table is None:
            parse_labels(args.labels, entry.dataset)
    if command == "pseudo-mask" and entry.needs_saliency and not args.saliency:
        raise SaliencyError(f"{args.name} needs a saliency map per image: pass --saliency FILE "
                            "(or, for a folder, --saliency FOLDER holding NAME.png maps)")
    if command == "cam":
        parse_scales(args.scales)  # a typo fails before the network loads
    out = _prepare_out(args.out)
    target = load_target(args.name, command, args)
    written, failed = 0, []
    for path, stem in _progress(items, args, command):
        paths = _output_paths(out, stem, command, not args.no_viz)
        if args.skip_existing and all(p.is_file() for p in paths.values()):
            continue
        try:
            image = load_image(path)
            labels = None if command == "segment" else _labels_of(args, stem, table)
            saliency = _saliency_of(args, path, stem, single) if command == "pseudo-mask" else None
            result = _compute(target, command, image, labels, args, saliency)
            _write_outputs(target, command, image, labels, result, paths, args)
        except PER_IMAGE_ERRORS as exc:
            if single:
                raise
            failed.append(path)
            warn(f"{path}: {error_text(exc)}")
            continue
        written += 1
        if single:
            say(args, *(str(p) for p in paths.values()))
    if not single:
        say(args, f"{command}: {written} image(s) written to {out}" + (f", {len(failed)} failed" if failed else ""))
    if failed:
        if not written:
            raise ConfigError(f"all {len(failed)} image(s) failed; see the warnings above")
        raise PartialFailure()
    return EXIT_OK


# --------------------------------------------------------------------------- compare
def _default_compare_names(dataset: str) -> List[str]:
    from .registry import pipelines

    return [p.name for p in pipelines() if p.dataset == dataset and not p.user_weights_required]


def _compare_column(name: str, image, labels, args):
    from . import viz
    from .registry import entry as registry_entry

    entry = registry_entry(name)
    command = "pseudo-mask" if entry.kind == "pipeline" else ("cam" if entry.inference.cam else "segment")
    if command == "pseudo-mask" and entry.kind == "pipeline" and entry.needs_saliency and not args.saliency:
        raise SaliencyError(f"{name} needs --saliency FILE")
    target = load_target(name, command, args, strict_weights=False)
    start = time.perf_counter()
    cam = mask = None
    if command in ("cam", "pseudo-mask") and not args.no_cam:
        cam = _compute(target, "cam", image, labels, args).numpy()
    if command == "pseudo-mask":
        saliency = args.saliency if entry.needs_saliency else None
        mask = _compute(target, "pseudo-mask", image, labels, args, saliency)
    elif command == "segment":
        mask = _compute(target, "segment", image, None, args)
    seconds = time.perf_counter() - start
    return viz.Column(name, cam=cam, mask=mask, subtitle=f"{entry.method} · {seconds:.1f} s")


def _check_compare_weights(values: Sequence[str], names: Sequence[str]) -> None:
    """In compare, each --weights must say which network it is for: NETWORK=PATH or PIPELINE:ROLE=PATH."""
    from .registry import is_model

    for value in values or ():
        key, _ = _split_weight(value)
        pipe = key.partition(":")[0] if key and ":" in key else None
        if (key is None or not (is_model(key) or pipe)) or (pipe and pipe not in names):
            raise ConfigError(f"--weights {value!r}: compare runs several methods, so name the network "
                              "(--weights cda_irn_resnet50_voc=PATH) or a compared pipeline's role "
                              "(--weights cda_irn_voc:cam=PATH)")


def cmd_compare(args) -> int:
    """One image through several pipelines/networks, side by side in one PNG grid."""
    from . import viz
    from .inputs import load_image, parse_labels
    from .registry import entry as registry_entry

    names = [n.strip() for n in (args.methods or "").split(",") if n.strip()]
    dataset = args.dataset or (registry_entry(names[0]).dataset if names else "voc")
    names = names or _default_compare_names(dataset)
    _check_compare_weights(args.weights, names)
    for name in names:
        info = registry_entry(name)  # unknown names fail before any work
        if info.dataset != dataset:
            raise ConfigError(f"{name} is a {info.dataset} model; compare puts one dataset's models side "
                              f"by side ({dataset})")
    ids = parse_labels(args.labels, dataset)
    image = load_image(args.image)
    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out names the grid PNG file, e.g. compare.png; got {out}")
    _prepare_out(out.parent if str(out.parent) else ".")
    columns, failed = [], []
    for name in _progress(names, args, "compare"):
        try:
            columns.append(_compare_column(name, image, ids, args))
        except WsssZooError as exc:
            failed.append(name)
            warn(f"{name} left out: {error_text(exc)}")
    if not columns:
        raise ConfigError("no pipeline could run; see the warnings above (missing weights? use "
                          f"{PROG} download NAME, or --weights NAME=PATH)")
    from .viz import class_name

    title = ", ".join(class_name(i, dataset) for i in ids)
    grid = viz.compare_grid(image, columns, dataset, cell_width=args.cell_width, cmap=args.cmap, title=title)
    viz.save_png(grid, out)
    say(args, f"{out} ({grid.shape[1]}x{grid.shape[0]}): " + ", ".join(c.title for c in columns))
    if failed:
        raise PartialFailure()
    return EXIT_OK

#!/usr/bin/env python
"""Check every reported mIoU in checkpoints.json: generate, evaluate with the matching convention, compare.

    python benchmarks/verify.py --voc-root data/VOCdevkit/VOC2012 --coco-root data/coco2014 --device cuda
    python benchmarks/verify.py --voc-root ... --only eps_voc --limit 20 --json v.json --markdown v.md --report html/
    python benchmarks/verify.py --voc-root ... --only eps_voc --seeds 3 --trained-dir runs/  # retrained weights

Each metric record of checkpoints.json (``models.*.metrics`` and ``pipelines.*.metrics``) is one row.
:data:`PROTOCOLS` says how a row is reproduced: which command runs (``cam`` on the split and a CAM
background threshold or sweep, ``pseudo-mask`` of a pipeline, ``segment`` of a DeepLab), and which
upstream evaluator convention scores it (:data:`wsss_zoo.metrics.CONVENTIONS`). Outputs go to
``--work-dir/<name>/<split>[-crf]`` and are reused by later runs (generation is resumable).

Every row prints its protocol next to its numbers (:func:`describe_protocol`): split and image count,
CRF on/off and its parameters, scales and flips, the evaluator convention (GT folder, mean, threshold
rule) and the numeric precision, then reported, reproduced and the difference.

A row passes when |reproduced - reported| <= ``--tolerance`` (default 0.5 mIoU). Rows run with
``--limit`` are marked ``partial`` (a subset says nothing about the reported number); rows whose
dataset, weights or CRF library are missing are ``skipped: <reason>``; a row that crashes is
``error: <reason>``. ``--seeds N`` evaluates weights retrained with seeds 0..N-1
(``--trained-dir/seed<k>/``, written by ``training/run.py``, or trained here with ``--train``) and
reports mean +- std. Exit code: 0 when no evaluated row failed or errored, 1 otherwise.
Docs: docs/verify.md.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from wsss_zoo.errors import WsssZooError  # noqa: E402
from wsss_zoo.metrics import SEAM_CURVE  # noqa: E402


@dataclass(frozen=True)
class Protocol:
    """How a reported number is reproduced (see module docstring)."""

    command: str                       # "cam" | "pseudo-mask" | "segment"
    convention: str                    # key of wsss_zoo.metrics.CONVENTIONS
    thresholds: Optional[Tuple[float, ...]] = None   # CAM rows: one threshold or a sweep (best reported)
    crop_val: Optional[int] = None     # VainF --crop_val size
    note: str = ""


_SEAM_SWEEP = "threshold not stated upstream: best of SEAM's --curve sweep 0.00..0.59"
#: (name, stage) -> Protocol; stage as in the metric records ("cam", "pseudo_mask", "segmentation").
PROTOCOLS: Dict[Tuple[str, str], Protocol] = {
    ("drs_deeplabv2_resnet101_voc", "segmentation"): Protocol("segment", "kazuto"),
    ("drs_deeplabv3plus_resnet101_voc", "segmentation"): Protocol("segment", "vainf", crop_val=513),
    ("sbnet_deeplabv2_resnet101_voc", "segmentation"): Protocol("segment", "kazuto"),
    ("cda_irn_resnet50_voc", "cam"): Protocol("cam", "irn", (0.15,)),
    ("cda_irn_voc", "pseudo_mask"): Protocol("pseudo-mask", "irn"),
    ("cda_seam_resnet38_voc", "cam"): Protocol("cam", "seam", SEAM_CURVE, note=_SEAM_SWEEP),
    ("cda_seam_voc", "pseudo_mask"): Protocol("pseudo-mask", "seam"),
    ("cda_psa_resnet38_voc", "cam"): Protocol("cam", "seam", SEAM_CURVE,
                                              note=_SEAM_SWEEP + " (PSA ships no evaluator)"),
    ("cda_psa_voc", "pseudo_mask"): Protocol("pseudo-mask", "seam", note="PSA ships no evaluator; SEAM's used"),
    ("sbnet_resnet38_voc", "cam"): Protocol("cam", "seam", SEAM_CURVE, note=_SEAM_SWEEP),
    ("sbnet_voc", "pseudo_mask"): Protocol("pseudo-mask", "seam"),
    ("eps_voc", "pseudo_mask"): Protocol("pseudo-mask", "eps"),
    ("eps_base_voc", "pseudo_mask"): Protocol("pseudo-mask", "eps"),
    ("eps_coco", "pseudo_mask"): Protocol("pseudo-mask", "eps"),
    ("eps_base_coco", "pseudo_mask"): Protocol("pseudo-mask", "eps"),
    ("rib_voc", "pseudo_mask"): Protocol("pseudo-mask", "rib"),
    ("rib_resnet50_voc", "cam"): Protocol("cam", "rib"),
}
DATASET_NAMES = {"voc": "voc", "voc12": "voc", "voc2012": "voc", "coco": "coco", "coco14": "coco", "coco2014": "coco"}


@dataclass
class Row:
    name: str                  # the model or pipeline that is run
    stage: str
    dataset: str               # "voc" | "coco"
    split: str
    crf: Optional[bool]
    reported: float
    n_images: Optional[int] = None
    where: str = ""
    convention: str = ""
    reproduced: Optional[float] = None
    delta: Optional[float] = None
    status: str = "pending"
    detail: str = ""
    evaluated_images: int = 0
    threshold: Optional[float] = None
    variants: Dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    out_dirs: List[str] = field(default_factory=list)
    upstream_protocol: str = ""    # the metric record's own words (checkpoints.json "protocol")
    protocol: Dict[str, str] = field(default_factory=dict)   # describe_protocol(): what this run does
    std: Optional[float] = None    # --seeds: sample standard deviation over the seeds
    seed_values: Dict[str, float] = field(default_factory=dict)
    report: str = ""               # --report: the HTML report of this row's outputs

    @property
    def key(self) -> str:
        crf = {True: "crf", False: "", None: "crf?"}[self.crf]
        return "/".join(p for p in (self.name, self.stage, self.split, crf) if p)


def collect_rows(registry: Optional[dict] = None) -> List[Row]:
    """One row per distinct (name, stage, split, crf) metric record; a model's record that names a
    ``pipeline`` is that pipeline's row."""
    if registry is None:
        from wsss_zoo.registry import document as load_registry

        registry = load_registry()
    rows: Dict[tuple, Row] = {}
    for section in ("pipelines", "models"):
        for name, entry in registry.get(section, {}).items():
            for rec in entry.get("metrics", []) or []:
                value = rec.get("miou", rec.get("value"))
                if value is None:
                    continue
                target = rec.get("pipeline") or name
                stage = rec.get("stage") or rec.get("what") or entry.get("task", "")
                dataset = DATASET_NAMES.get(str(rec.get("dataset", entry.get("dataset", ""))).lower(),
                                            rec.get("dataset", ""))
                split = str(rec.get("split", "")).split("(")[0]
                key = (target, stage, dataset, split, rec.get("crf"))
                if key not in rows:
                    rows[key] = Row(target, stage, dataset, split, rec.get("crf"), float(value),
                                    rec.get("n_images"), rec.get("where", ""),
                                    upstream_protocol=rec.get("protocol", ""))
    return list(rows.values())


# --------------------------------------------------------------------------- protocol of a row
#: What the segmentation recipes see (wsss_zoo/pipelines/segment.py): kazuto1011 ``main.py test`` MSC,
#: VainF ``eval.py``.
SEGMENT_VIEWS = {"deeplabv2": "MSC 1, 0.5, 0.75 (max fusion), no flip",
                 "deeplabv3plus": "single scale, no flip"}


def _crf_preset(row: Row, proto: Protocol) -> Tuple[Optional[str], Optional[int]]:
    """(preset, iterations override) of the row's CRF recipe: a pipeline's ``crf`` entry, or the
    segmentation recipe's ``crf_preset`` (registry setting, else the recipe's default)."""
    from wsss_zoo.registry import is_pipeline, model_entry, pipeline_entry

    if proto.command == "pseudo-mask" and is_pipeline(row.name):
        spec = pipeline_entry(row.name).crf
        return (spec.preset, spec.iterations) if spec else (None, None)
    if proto.command == "segment":
        from wsss_zoo.pipelines.base import SEGMENT_RECIPES

        spec = model_entry(row.name).inference.segment
        try:
            param = inspect.signature(SEGMENT_RECIPES.get(spec.recipe if spec else "")).parameters.get("crf_preset")
        except (KeyError, WsssZooError):
            param = None
        return (spec.options.get("crf_preset") if spec else None) or (param.default if param is not None else None), None
    return None, None


def crf_text(preset: Optional[str], iterations: Optional[int] = None) -> str:
    """A CRF preset with its parameters (wsss_zoo.crf.PRESETS)."""
    from wsss_zoo.crf import PRESETS

    if preset not in PRESETS:
        return f"preset {preset}" if preset else "no preset named"
    c = PRESETS[preset]
    unary = "label unary (gt_prob %g)" % c.gt_prob if c.unary == "labels" else "softmax unary"
    return (f"{preset}: {unary}, Gaussian sxy {c.gauss_sxy:g} compat {c.gauss_compat:g}, bilateral sxy "
            f"{c.bi_sxy:g} srgb {c.bi_srgb:g} compat {c.bi_compat:g}, {iterations or c.iterations} iterations")


def _scales_text(row: Row, proto: Protocol) -> str:
    from wsss_zoo.registry import is_model, is_pipeline, model_entry, pipeline_entry

    def cam_of(model: str) -> str:
        cam = model_entry(model).inference.cam if is_model(model) else None
        if not cam or not cam.scales:
            return ""
        return ", ".join(f"{x:g}" for x in cam.scales) + (" + flips" if cam.flip else ", no flip")

    if proto.command == "cam":
        return cam_of(row.name) or "the network's default"
    if proto.command == "segment":
        spec = model_entry(row.name).inference.segment
        recipe = spec.recipe if spec else ""
        text = SEGMENT_VIEWS.get(recipe, f"recipe {recipe}")
        return text + (f"; {proto.crop_val}x{proto.crop_val} centre crop after resizing the shorter side"
                       if proto.crop_val else "; full image")
    if is_pipeline(row.name):
        roles = pipeline_entry(row.name).roles
        texts = [f"{role}: {cam_of(model)}" for role, model in roles.items() if cam_of(model)]
        return "; ".join(texts) or "as the pipeline runs"
    return ""


def _evaluator_text(row: Row, proto: Protocol) -> str:
    from wsss_zoo.metrics import get_convention

    conv = get_convention(proto.convention)
    gt = conv.voc_gt if row.dataset == "voc" else "the COCO layout's masks"
    text = f"{conv.name} ({conv.source}); GT {gt}"
    ts = proto.thresholds
    if proto.command == "cam":
        ts = ts or conv.cam_thresholds or (0.15,)
        text += (f"; CAM background threshold {ts[0]:g}" if len(ts) == 1 else
                 f"; best CAM background threshold of {len(ts)} from {min(ts):g} to {max(ts):g}, chosen on the "
                 "evaluated images")
    return text


def describe_protocol(row: Row, proto: Optional[Protocol], precision: str = "fp32") -> Dict[str, str]:
    """What reproducing ``row`` runs: split and image count, CRF, scales/flips, evaluator, precision."""
    out = {"split": f"{row.split} ({row.n_images:,} images)" if row.n_images else row.split,
           "precision": precision}
    if proto is None:
        return dict(out, crf="-", scales="-", evaluator="no protocol")
    try:
        preset, iterations = _crf_preset(row, proto)
        crf_on = f"on ({crf_text(preset, iterations)})"
        out["crf"] = {False: "off", True: crf_on,
                      None: f"not stated upstream: both off and {crf_on} run"}[row.crf]
        out["scales"] = _scales_text(row, proto)
        out["evaluator"] = _evaluator_text(row, proto)
    except WsssZooError as exc:  # a registry entry the protocol cannot describe: say so, keep the row
        out.setdefault("crf", "?")
        out.setdefault("scales", "?")
        out["evaluator"] = f"? ({exc})"
    return out


def short_protocol(row: Row) -> str:
    """One line: CRF, scales/flips, evaluator, precision (the table's line under each row)."""
    p = row.protocol
    return "; ".join(f"{label} {p[k]}" for k, label in (("crf", "CRF"), ("scales", "scales/flips"),
                                                        ("evaluator", "evaluator"), ("precision", "precision"))
                     if p.get(k))


# --------------------------------------------------------------------------- weights
def find_local_weights(model_name: str, weights_dir: Optional[Path]) -> Optional[Path]:
    """``<dir>/<registry filename>``, ``<dir>/<name>.pth`` or ``<dir>/<name>.safetensors``."""
    if weights_dir is None:
        return None
    from wsss_zoo.registry import model_entry

    entry = model_entry(model_name)
    for cand in (entry.filename, f"{model_name}.pth", f"{model_name}.safetensors"):
        if cand and (weights_dir / cand).is_file():
            return weights_dir / cand
    return None


def resolve_weights(name: str, command: str, weights_dir: Optional[Path], download: bool):
    """Local files for the networks of a row: a path (network) or {role: path} (pipeline).

    Raises ``LookupError(reason)`` when a needed file is neither local nor obtainable.
    """
    from wsss_zoo import hub
    from wsss_zoo.registry import is_pipeline, model_entry, pipeline_entry

    if is_pipeline(name) and command != "segment":
        entry = pipeline_entry(name)
        needed = dict(entry.roles)
        required = set(entry.user_weights_required)
    else:
        needed, required = {"": name}, set()
    out = {}
    for role, model_name in needed.items():
        path = find_local_weights(model_name, weights_dir)
        if path is None and role in required:
            raise LookupError(f"{name} needs a user-trained '{role}' network (never published): put it in "
                              f"--weights-dir as {model_entry(model_name).filename}")
        if path is None:
            if not download:
                raise LookupError(f"no local weights for {model_name} in --weights-dir and downloads are off")
            try:
                path = hub.resolve_file(model_entry(model_name))
            except WsssZooError as exc:
                raise LookupError(f"weights of {model_name} unavailable: {exc}") from None
        out[role] = str(path)
    return out[""] if "" in out else out


# --------------------------------------------------------------------------- retrained weights (--seeds)
def training_recipes(row: Row, proto: Protocol) -> Dict[str, Tuple[str, str]]:
    """{role: (network, training recipe)} of a row's networks (checkpoints.json ``train_recipe(s)``);
    ``LookupError`` when one has none."""
    from wsss_zoo.registry import is_pipeline, model_entry, pipeline_entry

    if is_pipeline(row.name) and proto.command != "segment":
        entry = pipeline_entry(row.name)
        recipes = entry.train_recipes
        missing = [role for role in entry.roles if role not in recipes]
        if missing:
            raise LookupError(f"no training recipe for the {', '.join(missing)} network(s) of {row.name}")
        return {role: (model, recipes[role]) for role, model in entry.roles.items()}
    recipe = model_entry(row.name).train_recipe
    if not recipe:
        raise LookupError(f"{row.name} has no training recipe")
    return {"": (row.name, recipe)}


def trained_file(seed_dir: Path, model: str, recipe: str) -> Optional[Path]:
    """What ``training/run.py RECIPE --out SEED_DIR`` wrote: ``<network>.pth`` (a recipe that trains the
    published checkpoint) or ``<recipe>.pth`` (an intermediate stage), or the registry file name."""
    from wsss_zoo.registry import model_entry

    for name in (f"{model}.pth", f"{recipe}.pth", model_entry(model).filename):
        if name and (seed_dir / name).is_file():
            return seed_dir / name
    return None


def train_command(recipe: str, seed: int, out: Path, row: Row, opts: "Options") -> List[str]:
    """The ``training/run.py`` command that trains ``recipe`` with ``seed`` into ``out``."""
    cmd = [sys.executable, str(ROOT / "training" / "run.py"), recipe, "--seed", str(seed), "--out", str(out)]
    if row.dataset == "voc" and opts.voc_root:
        cmd += ["--voc-root", str(opts.voc_root)]
    if row.dataset == "coco" and opts.coco_root:
        cmd += ["--coco-root", str(opts.coco_root), "--coco-layout", opts.coco_layout]
    return cmd + list(opts.train_args)


def _chain_inputs(recipe: str) -> List[str]:
    """Inputs of ``recipe`` that an earlier training stage writes (``out:``): such rows need a stage chain."""
    try:
        from training.recipes import get_recipe  # the repository's training/ (ROOT is on sys.path)
    except ImportError as exc:
        raise LookupError(f"--train needs the repository's training/ package: {exc}") from None
    return [i.name for i in get_recipe(recipe).inputs if i.default.startswith("out:")]


def seed_weights(row: Row, proto: Protocol, opts: "Options", seed: int):
    """The row's weights retrained with ``seed`` (:func:`resolve_weights`' shape), trained first with
    ``--train`` where one ``training/run.py`` call per network suffices; ``LookupError(reason)`` otherwise."""
    seed_dir = Path(opts.trained_dir) / f"seed{seed}"
    found, missing = {}, []
    for role, (model, recipe) in training_recipes(row, proto).items():
        path = trained_file(seed_dir, model, recipe)
        if path is None:
            missing.append((role, model, recipe))
        found[role] = path
    if missing and opts.train:
        chains = {recipe: _chain_inputs(recipe) for _, _, recipe in missing}
        if any(chains.values()):
            raise LookupError(f"seed {seed}: {', '.join(r for r, c in chains.items() if c)} read(s) the output of "
                              f"an earlier training stage; run the stage chain of training/README.md with --seed "
                              f"{seed} --out {seed_dir}")
        for role, model, recipe in missing:
            cmd = train_command(recipe, seed, seed_dir, row, opts)
            print(f"training: {shlex.join(cmd)}", file=sys.stderr, flush=True)
            if subprocess.run(cmd).returncode != 0:
                raise LookupError(f"seed {seed}: training {recipe} failed (command above)")
            found[role] = trained_file(seed_dir, model, recipe)
        missing = [m for m in missing if found[m[0]] is None]
    if missing:
        cmds = "; ".join(shlex.join(train_command(recipe, seed, seed_dir, row, opts)[1:]) for _, _, recipe in missing)
        raise LookupError(f"seed {seed} not trained: no {', '.join(m for _, m, _ in missing)} in {seed_dir} "
                          f"(run: python {cmds}; or pass --train)")
    return found[""] if "" in found else {role: str(path) for role, path in found.items()}


# --------------------------------------------------------------------------- one row
@dataclass
class Options:
    voc_root: Optional[str] = None
    coco_root: Optional[str] = None
    coco_layout: str = "auto"
    coco_cls_labels: Optional[str] = None
    voc_cls_labels: Optional[str] = None
    weights_dir: Optional[Path] = None
    work_dir: Path = Path("verify_outputs")
    limit: Optional[int] = None
    tolerance: float = 0.5
    device: str = "cpu"
    download: bool = True
    progress: bool = True
    saliency_dir: Optional[str] = None
    precision: str = "fp32"
    seeds: int = 0                      # 0: the published weights; N: retrained with seeds 0..N-1
    trained_dir: Optional[Path] = None  # --seeds: <dir>/seed<k>/ holds what training/run.py wrote
    train: bool = False                 # --seeds: train missing seeds with training/run.py
    train_args: Tuple[str, ...] = ()
    report_dir: Optional[Path] = None   # --report: one HTML report per evaluated row
    command: str = ""                   # this verify.py command line (named in the reports)


def _open_dataset(row: Row, proto: Protocol, opts: Options):
    from wsss_zoo.data import open_dataset
    from wsss_zoo.metrics import get_convention

    if row.dataset == "voc":
        if not opts.voc_root:
            raise LookupError("no --voc-root")
        return open_dataset("voc", opts.voc_root, row.split, gt=get_convention(proto.convention).voc_gt,
                            cls_labels=opts.voc_cls_labels)
    if row.dataset == "coco":
        if not opts.coco_root:
            raise LookupError("no --coco-root")
        return open_dataset("coco", opts.coco_root, row.split, layout=opts.coco_layout,
                            cls_labels=opts.coco_cls_labels)
    raise LookupError(f"unknown dataset {row.dataset!r}")


def _crf_variants(row: Row, proto: Protocol) -> List[bool]:
    """CRF settings to run: the record's, or both when upstream does not say (``crf: null``)."""
    from wsss_zoo.registry import is_pipeline, pipeline_entry

    variants = [False, True] if row.crf is None else [bool(row.crf)]
    no_crf_recipe = proto.command == "cam" or (proto.command == "pseudo-mask" and is_pipeline(row.name)
                                               and pipeline_entry(row.name).crf is None)
    if no_crf_recipe:
        variants = [v for v in variants if not v]
        if not variants:
            raise LookupError(f"{row.name} has no CRF recipe for {row.stage} rows")
    return variants


def _load_target(command: str, name: str, weights, opts: Options):
    """The pipeline (pseudo-mask, cam of a pipeline row) or the network that generates a row's outputs."""
    import wsss_zoo
    from wsss_zoo.registry import is_pipeline

    if is_pipeline(name) and command in ("pseudo-mask", "cam"):
        return wsss_zoo.load_pipeline(name, weights, device=opts.device, precision=opts.precision)
    return wsss_zoo.load(name, weights, device=opts.device, precision=opts.precision)


def _prepare(row: Row, proto: Optional[Protocol], opts: Options):
    """(dataset, full split size, CRF variants, [(label, weights)]); ``LookupError`` = the row is skipped."""
    from wsss_zoo.crf import crf_available
    from wsss_zoo.errors import DatasetError

    if proto is None:
        raise LookupError(f"no verification protocol for ({row.name}, {row.stage}) in benchmarks/verify.py")
    if row.split == "test":
        raise LookupError("VOC test has no public ground truth (evaluation server only)")
    try:
        dataset = _open_dataset(row, proto, opts)
    except DatasetError as exc:
        raise LookupError(f"dataset: {exc}") from None
    full = len(dataset)
    if opts.limit is not None and opts.limit < full:
        dataset = dataset.subset(dataset.ids[:opts.limit])
    variants = _crf_variants(row, proto)
    if any(variants) and not crf_available():
        variants = [v for v in variants if not v]
        if not variants:
            raise LookupError("CRF rows need pydensecrf (pip install 'wsss_zoo[crf]')")
    if opts.seeds:
        runs = [(f"seed{k}", seed_weights(row, proto, opts, k)) for k in range(opts.seeds)]
    else:
        runs = [("", resolve_weights(row.name, proto.command, opts.weights_dir, opts.download))]
    return dataset, full, variants, runs


def _generate_and_evaluate(row: Row, proto: Protocol, opts: Options, dataset, variants, label, weights, loaded):
    """{crf: (EvalResult, output folder)} of one set of weights."""
    from wsss_zoo.data.generate import generate, needs_saliency
    from wsss_zoo.evaluate import evaluate_folder

    key = (row.name, proto.command, label)
    target = (loaded or {}).get(key)
    if target is None:
        target = _load_target(proto.command, row.name, weights, opts)
        if loaded is not None:
            loaded[key] = target
    results = {}
    for crf in variants:
        sub = f"{row.split}" + ("-crf" if crf else "") + (f"-crop{proto.crop_val}" if proto.crop_val else "")
        out = Path(opts.work_dir) / row.name / label / sub if label else Path(opts.work_dir) / row.name / sub
        row.out_dirs.append(str(out))
        saliency = None
        if proto.command == "pseudo-mask" and needs_saliency(target):
            dataset.set_saliency_dir(opts.saliency_dir)
            saliency = True
        generate(dataset, target, proto.command, out, crf=crf, crop_val=proto.crop_val, saliency=saliency,
                 progress=opts.progress, target_name=row.name)
        res = evaluate_folder(dataset, out, convention=proto.convention,
                              kind="cam" if proto.command == "cam" else "label",
                              thresholds=proto.thresholds, crop_val=proto.crop_val)
        results[crf] = (res, out)
    return results


def _closest(row: Row, results: dict):
    """The CRF variant whose mIoU is closest to the reported one (both run when upstream does not say)."""
    return min(results.items(), key=lambda kv: abs(kv[1][0].miou - row.reported))


def report_path(report_dir: Path, row: Row) -> Path:
    """``<dir>/<row key with / as __>.html``."""
    return Path(report_dir) / (re.sub(r"[^A-Za-z0-9_.-]+", "_", row.key.replace("/", "__")) + ".html")


def _write_report(row: Row, proto: Protocol, opts: Options, dataset, per_run: dict) -> None:
    """The row's HTML report: its output folder, or two folders side by side (CRF off / on when upstream
    does not say which; the lowest and highest seed with ``--seeds``)."""
    from wsss_zoo.evaluate import evaluate_folders

    if len(per_run) > 1:
        chosen = {label: _closest(row, results)[1] for label, results in per_run.items()}
        order = sorted(chosen, key=lambda label: chosen[label][0].miou)
        picked = [(f"{label} ({chosen[label][0].miou:.2f})", chosen[label][1]) for label in (order[0], order[-1])]
    else:
        results = next(iter(per_run.values()))
        picked = [("crf" if crf else "no crf", out) for crf, (_, out) in results.items()]
    picked = picked[:1] if len(picked) == 2 and picked[0][1] == picked[1][1] else picked
    path = report_path(opts.report_dir, row)
    evaluate_folders(dataset, [d for _, d in picked], names=[n for n, _ in picked], convention=proto.convention,
                     kind="cam" if proto.command == "cam" else "label", thresholds=proto.thresholds,
                     crop_val=proto.crop_val, report=path,
                     command=f"{opts.command} (row {row.key})" if opts.command else f"verify.py row {row.key}")
    row.report = str(path)


def verify_row(row: Row, opts: Options, *, loaded: Optional[dict] = None) -> Row:
    """Generate and evaluate one row in place; never raises (the outcome is in ``row.status``)."""
    start = time.time()
    proto = PROTOCOLS.get((row.name, row.stage))
    row.protocol = describe_protocol(row, proto, opts.precision)
    if proto is not None:
        row.convention = proto.convention
    try:
        dataset, full, variants, runs = _prepare(row, proto, opts)
    except LookupError as exc:
        row.status, row.detail = "skipped", str(exc)
        row.seconds = round(time.time() - start, 2)
        return row
    except WsssZooError as exc:
        row.status, row.detail = "error", str(exc)
        return row
    try:
        per_run = {label: _generate_and_evaluate(row, proto, opts, dataset, variants, label, weights, loaded)
                   for label, weights in runs}
        row.evaluated_images = len(dataset)
        notes = [proto.note] if proto.note else []
        if opts.seeds:
            row.seed_values = {label: round(_closest(row, results)[1][0].miou, 2) for label, results in per_run.items()}
            values = list(row.seed_values.values())
            row.reproduced = round(statistics.fmean(values), 2)
            row.std = round(statistics.stdev(values), 2) if len(values) > 1 else None
            notes.append(f"retrained, {len(values)} seed(s): " + ", ".join(f"{k} {v:.2f}" for k, v in
                                                                        row.seed_values.items()))
        else:
            results = per_run[""]
            row.variants = {("crf" if k else "no crf"): v.miou for k, (v, _) in results.items()}
            best = _closest(row, results)[1][0]
            row.reproduced = round(best.miou, 2)
            row.threshold = best.threshold
            if row.crf is None:
                notes.append("CRF setting not stated upstream: "
                             + ", ".join(f"{k} {v:.2f}" for k, v in row.variants.items()) + "; closest shown")
            if best.threshold is not None and proto.command == "cam":
                notes.append(f"bg threshold {best.threshold:.2f}")
        row.delta = round(row.reproduced - row.reported, 2)
        if len(dataset) < full:
            row.status = "partial"
            notes.insert(0, f"{len(dataset)} of {full} images")
        else:
            row.status = "pass" if abs(row.delta) <= opts.tolerance else "fail"
        row.detail = "; ".join(n for n in notes if n)
        if opts.report_dir:
            _write_report(row, proto, opts, dataset, per_run)
    except Exception as exc:  # noqa: BLE001 - one broken row must not stop the report
        row.status = "error"
        row.detail = f"{type(exc).__name__}: {exc}"
        if os.environ.get("WSSS_ZOO_DEBUG"):
            traceback.print_exc()
    row.seconds = round(time.time() - start, 2)
    return row


# --------------------------------------------------------------------------- report
def _reproduced(r: Row) -> str:
    if r.reproduced is None:
        return "-"
    return f"{r.reproduced:.2f}" + (f" ± {r.std:.2f}" if r.std is not None else "")


def _status(r: Row) -> str:
    return r.status + (f": {r.detail}" if r.detail and r.status in ("skipped", "error") else "")


def format_table(rows: Sequence[Row]) -> str:
    """The text table: one line of numbers per row with its protocol on the line below."""
    head = ("name", "stage", "split (images)", "crf", "conv", "prec", "reported", "reproduced", "delta", "status")
    lines = []
    for r in rows:
        crf = {True: "yes", False: "no", None: "?"}[r.crf]
        delta = "-" if r.delta is None else f"{r.delta:+.2f}"
        lines.append((r.name, r.stage, r.protocol.get("split", r.split), crf, r.convention or "-",
                      r.protocol.get("precision", "-"), f"{r.reported:.2f}", _reproduced(r), delta, _status(r)))
    widths = [max(len(h), *(len(str(line[i])) for line in lines)) if lines else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths[:-1]), "-" * 6)]
    for r, line in zip(rows, lines):
        out.append(fmt.format(*line))
        out.append(f"    protocol: {short_protocol(r)}")
    notes = [f"  {r.key}: {r.detail}" for r in rows if r.detail and r.status not in ("skipped", "error")]
    notes += [f"  {r.key}: report {r.report}" for r in rows if r.report]
    if notes:
        out += ["", "notes:"] + notes
    out += ["", "summary: " + summary(rows)]
    return "\n".join(out)


def summary(rows: Sequence[Row]) -> str:
    counts: Dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))


def _md(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def format_markdown(rows: Sequence[Row], *, tolerance: float, limit: Optional[int]) -> str:
    """The rows as a Markdown table (protocol next to the numbers), then each row's upstream protocol."""
    out = ["# Reported vs reproduced", "",
           f"Tolerance ±{tolerance:g} mIoU" + (f"; first {limit} images per row (partial)" if limit else "") + ".", "",
           "| row | split (images) | CRF | scales / flips | evaluator | precision | reported | reproduced | Δ "
           "| status |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p = r.protocol
        delta = "" if r.delta is None else f"{r.delta:+.2f}"
        out.append("| " + " | ".join(_md(x) for x in (
            f"`{r.key}`", p.get("split", r.split), p.get("crf", ""), p.get("scales", ""), p.get("evaluator", ""),
            p.get("precision", ""), f"{r.reported:.2f}", _reproduced(r), delta,
            _status(r) + (f" ({r.detail})" if r.detail and r.status not in ("skipped", "error") else ""))) + " |")
    out += ["", f"Summary: {summary(rows)}.", "", "## Upstream protocols (checkpoints.json)", ""]
    out += [f"- `{r.key}`: {_md(r.upstream_protocol or 'not recorded')}" + (f" ({r.where})" if r.where else "")
            for r in rows]
    return "\n".join(out) + "\n"


def exit_code(rows: Sequence[Row]) -> int:
    return 1 if any(r.status in ("fail", "error") for r in rows) else 0


def select_rows(rows: List[Row], only: Optional[Sequence[str]]) -> List[Row]:
    if not only:
        return rows
    wanted = set(only)
    picked = [r for r in rows if r.name in wanted or r.key in wanted]
    unknown = wanted - {r.name for r in picked} - {r.key for r in picked}
    if unknown:
        raise SystemExit(f"verify.py: --only {', '.join(sorted(unknown))}: no such row; rows: "
                         f"{', '.join(sorted({r.name for r in rows}))}")
    return picked


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="benchmarks/verify.py", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voc-root", help="VOCdevkit/VOC2012 with SegmentationClass and SegmentationClassAug")
    p.add_argument("--coco-root", help="COCO 2014 root (EPS layout for the EPS rows)")
    p.add_argument("--coco-layout", choices=("auto", "eps", "rib"), default="auto")
    p.add_argument("--coco-cls-labels", help="COCO cls_labels.npy (else annotations json or GT masks)")
    p.add_argument("--voc-cls-labels", help="VOC cls_labels.npy (else Annotations/*.xml)")
    p.add_argument("--saliency-dir", help="saliency maps for pipelines that need them (drs_voc)")
    p.add_argument("--weights-dir", help="folder with the published files (registry file names or <name>.pth); "
                   "missing ones are downloaded unless --no-download")
    p.add_argument("--no-download", action="store_true", help="use only --weights-dir and the cache")
    p.add_argument("--work-dir", default="verify_outputs", help="where generated outputs go (reused; default: "
                   "%(default)s)")
    p.add_argument("--only", action="append", metavar="NAME", help="only rows of this model/pipeline (or row key); "
                   "repeatable")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="first N images per row (quick check; "
                   "rows are then 'partial')")
    p.add_argument("--tolerance", type=float, default=0.5, help="pass when |delta| <= this (default: %(default)s)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda if available)")
    p.add_argument("--precision", default="fp32", help="numeric precision of the generation (default: %(default)s; "
                   "other modes where this wsss_zoo has them)")
    p.add_argument("--seeds", type=int, default=0, metavar="N", help="evaluate weights retrained with seeds 0..N-1 "
                   "(--trained-dir/seed<k>/) instead of the published ones; reports mean ± std")
    p.add_argument("--trained-dir", metavar="DIR", help="with --seeds: DIR/seed<k>/ holds what "
                   "'training/run.py RECIPE --seed k --out DIR/seed<k>' wrote (default: <work-dir>/trained)")
    p.add_argument("--train", action="store_true", help="with --seeds: train missing seeds with training/run.py "
                   "(rows whose networks each need one recipe; stage chains are trained by hand)")
    p.add_argument("--train-arg", action="append", default=[], metavar="ARG",
                   help="extra training/run.py argument (repeatable, e.g. --train-arg=--iterations=100)")
    p.add_argument("--json", metavar="OUT", help="write the rows as JSON")
    p.add_argument("--markdown", metavar="OUT", help="write the rows as a Markdown table")
    p.add_argument("--report", metavar="DIR", help="write the HTML report of each evaluated row's outputs to DIR "
                   "(docs/report.md)")
    p.add_argument("--list", action="store_true", help="list the rows and their protocols, run nothing")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.seeds < 0:
        raise SystemExit("verify.py: --seeds must be 0 or more")
    if (args.train or args.trained_dir) and not args.seeds:
        raise SystemExit("verify.py: --train and --trained-dir go with --seeds N")
    rows = select_rows(collect_rows(), args.only)
    if args.list:
        for r in rows:
            proto = PROTOCOLS.get((r.name, r.stage))
            r.protocol = describe_protocol(r, proto, args.precision)
            how = f"{proto.command} / {proto.convention}" if proto else "no protocol"
            print(f"{r.key:55s} {r.reported:6.2f}  {how}  [{r.protocol['split']}]\n    {short_protocol(r)}")
        return 0
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    work_dir = Path(args.work_dir)
    opts = Options(voc_root=args.voc_root, coco_root=args.coco_root, coco_layout=args.coco_layout,
                   coco_cls_labels=args.coco_cls_labels, voc_cls_labels=args.voc_cls_labels,
                   weights_dir=Path(args.weights_dir).expanduser() if args.weights_dir else None,
                   work_dir=work_dir, limit=args.limit, tolerance=args.tolerance, device=args.device,
                   download=not args.no_download, progress=not args.no_progress and sys.stderr.isatty(),
                   saliency_dir=args.saliency_dir, precision=args.precision, seeds=args.seeds,
                   trained_dir=Path(args.trained_dir).expanduser() if args.trained_dir else work_dir / "trained",
                   train=args.train, train_args=tuple(args.train_arg),
                   report_dir=Path(args.report) if args.report else None,
                   command=shlex.join(["python", "benchmarks/verify.py", *(sys.argv[1:] if argv is None else argv)]))
    loaded: dict = {}
    for i, row in enumerate(rows, 1):
        print(f"[{i}/{len(rows)}] {row.key} ...", file=sys.stderr, flush=True)
        verify_row(row, opts, loaded=loaded)
        print(f"[{i}/{len(rows)}] {row.key}: {row.status}" + (f" ({row.detail})" if row.detail else ""),
              file=sys.stderr, flush=True)
        if i == len(rows) or rows[i].name != row.name:
            loaded.clear()  # free the networks of the finished target
    print(format_table(rows))
    from wsss_zoo.fileio import atomic_write_text as write_text_atomic

    if args.json:
        write_text_atomic(args.json, json.dumps({"tolerance": args.tolerance, "limit": args.limit, "seeds": args.seeds,
                                                 "precision": args.precision,
                                                 "rows": [asdict(r) | {"key": r.key} for r in rows]}, indent=1))
    if args.markdown:
        write_text_atomic(args.markdown, format_markdown(rows, tolerance=args.tolerance, limit=args.limit))
    return exit_code(rows)


if __name__ == "__main__":
    sys.exit(main())

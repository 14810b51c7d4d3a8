#!/usr/bin/env python
"""Check every reported mIoU in checkpoints.json: generate, evaluate with the matching convention, compare.

    python benchmarks/verify.py --voc-root data/VOCdevkit/VOC2012 --coco-root data/coco2014 --device cuda
    python benchmarks/verify.py --voc-root ... --only eps_voc --limit 20 --json report.json

Each metric record of checkpoints.json (``models.*.metrics`` and ``pipelines.*.metrics``) is one row.
:data:`PROTOCOLS` says how a row is reproduced: which command runs (``cam`` on the split and a CAM
background threshold or sweep, ``pseudo-mask`` of a pipeline, ``segment`` of a DeepLab), and which
upstream evaluator convention scores it (:data:`wsss_zoo.metrics.CONVENTIONS`). Outputs go to
``--work-dir/<name>/<split>[-crf]`` and are reused by later runs (generation is resumable).

A row passes when |reproduced - reported| <= ``--tolerance`` (default 0.5 mIoU). Rows run with
``--limit`` are marked ``partial`` (a subset says nothing about the reported number); rows whose
dataset, weights or CRF library are missing are ``skipped: <reason>``; a row that crashes is
``error: <reason>``. Exit code: 0 when no evaluated row failed or errored, 1 otherwise.
Docs: docs/verify.md.
"""
from __future__ import annotations

import argparse
import json
import os
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
                                    rec.get("n_images"), rec.get("where", ""))
    return list(rows.values())


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


def verify_row(row: Row, opts: Options, *, loaded: Optional[dict] = None) -> Row:
    """Generate and evaluate one row in place; never raises (the outcome is in ``row.status``)."""
    from wsss_zoo.crf import crf_available
    from wsss_zoo.data.generate import generate, load_target, needs_saliency
    from wsss_zoo.errors import DatasetError
    from wsss_zoo.evaluate import evaluate_folder

    start = time.time()
    proto = PROTOCOLS.get((row.name, row.stage))
    try:
        if proto is None:
            raise LookupError(f"no verification protocol for ({row.name}, {row.stage}) in benchmarks/verify.py")
        row.convention = proto.convention
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
        weights = resolve_weights(row.name, proto.command, opts.weights_dir, opts.download)
    except LookupError as exc:
        row.status, row.detail = "skipped", str(exc)
        row.seconds = round(time.time() - start, 2)
        return row
    except WsssZooError as exc:
        row.status, row.detail = "error", str(exc)
        return row
    try:
        key = (row.name, proto.command)
        target = (loaded or {}).get(key)
        if target is None:
            target = load_target(proto.command, row.name, weights=weights, device=opts.device)
            if loaded is not None:
                loaded[key] = target
        results = {}
        for crf in variants:
            sub = f"{row.split}" + ("-crf" if crf else "") + (f"-crop{proto.crop_val}" if proto.crop_val else "")
            out = Path(opts.work_dir) / row.name / sub
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
            results[crf] = res
        row.evaluated_images = len(dataset)
        row.variants = {("crf" if k else "no crf"): v.miou for k, v in results.items()}
        best = min(results.values(), key=lambda r: abs(r.miou - row.reported))
        row.reproduced = round(best.miou, 2)
        row.threshold = best.threshold
        row.delta = round(row.reproduced - row.reported, 2)
        notes = [proto.note] if proto.note else []
        if row.crf is None:
            notes.append("CRF setting not stated upstream: "
                         + ", ".join(f"{k} {v:.2f}" for k, v in row.variants.items()) + "; closest shown")
        if best.threshold is not None and proto.command == "cam":
            notes.append(f"bg threshold {best.threshold:.2f}")
        if len(dataset) < full:
            row.status = "partial"
            notes.insert(0, f"{len(dataset)} of {full} images")
        else:
            row.status = "pass" if abs(row.delta) <= opts.tolerance else "fail"
        row.detail = "; ".join(n for n in notes if n)
    except Exception as exc:  # noqa: BLE001 - one broken row must not stop the report
        row.status = "error"
        row.detail = f"{type(exc).__name__}: {exc}"
        if os.environ.get("WSSS_ZOO_DEBUG"):
            traceback.print_exc()
    row.seconds = round(time.time() - start, 2)
    return row


# --------------------------------------------------------------------------- report
def format_table(rows: Sequence[Row]) -> str:
    head = ("name", "stage", "split", "crf", "conv", "reported", "reproduced", "delta", "status")
    lines = []
    for r in rows:
        crf = {True: "yes", False: "no", None: "?"}[r.crf]
        rep = "-" if r.reproduced is None else f"{r.reproduced:.2f}"
        delta = "-" if r.delta is None else f"{r.delta:+.2f}"
        status = r.status + (f": {r.detail}" if r.detail and r.status in ("skipped", "error") else "")
        lines.append((r.name, r.stage, r.split, crf, r.convention or "-", f"{r.reported:.2f}", rep, delta, status))
    widths = [max(len(h), *(len(str(line[i])) for line in lines)) if lines else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths[:-1]), "-" * 6)]
    out += [fmt.format(*line) for line in lines]
    notes = [f"  {r.key}: {r.detail}" for r in rows if r.detail and r.status not in ("skipped", "error")]
    if notes:
        out += ["", "notes:"] + notes
    counts = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    out += ["", "summary: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))]
    return "\n".join(out)


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
    p.add_argument("--json", metavar="OUT", help="write the rows as JSON")
    p.add_argument("--list", action="store_true", help="list the rows and their protocols, run nothing")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    rows = select_rows(collect_rows(), args.only)
    if args.list:
        for r in rows:
            proto = PROTOCOLS.get((r.name, r.stage))
            how = f"{proto.command} / {proto.convention}" if proto else "no protocol"
            print(f"{r.key:55s} {r.reported:6.2f}  {how}")
        return 0
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    opts = Options(voc_root=args.voc_root, coco_root=args.coco_root, coco_layout=args.coco_layout,
                   coco_cls_labels=args.coco_cls_labels, voc_cls_labels=args.voc_cls_labels,
                   weights_dir=Path(args.weights_dir).expanduser() if args.weights_dir else None,
                   work_dir=Path(args.work_dir), limit=args.limit, tolerance=args.tolerance, device=args.device,
                   download=not args.no_download, progress=not args.no_progress and sys.stderr.isatty(),
                   saliency_dir=args.saliency_dir)
    loaded: dict = {}
    for i, row in enumerate(rows, 1):
        print(f"[{i}/{len(rows)}] {row.key} ...", file=sys.stderr, flush=True)
        verify_row(row, opts, loaded=loaded)
        print(f"[{i}/{len(rows)}] {row.key}: {row.status}" + (f" ({row.detail})" if row.detail else ""),
              file=sys.stderr, flush=True)
        if i == len(rows) or rows[i].name != row.name:
            loaded.clear()  # free the networks of the finished target
    print(format_table(rows))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"tolerance": args.tolerance, "limit": args.limit,
                                               "rows": [asdict(r) | {"key": r.key} for r in rows]}, indent=1))
    return exit_code(rows)


if __name__ == "__main__":
    sys.exit(main())

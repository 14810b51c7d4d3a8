"""``wsss-zoo eval``: mIoU of a folder of predictions against a dataset split's ground truth.

Predictions are ``<pred>/<id>.png`` label maps (any palette or grey index PNG) or ``<pred>/<id>.npy``
CAM dicts (any upstream style, :func:`wsss_zoo.data.read_cam_npy`), which are evaluated with a
background threshold or a threshold sweep (best threshold reported, as SEAM ``--curve`` and RIB do).
``--convention`` picks an upstream evaluator's rules (:data:`wsss_zoo.metrics.CONVENTIONS`): its mean,
its handling of out-of-range predictions and size mismatches, and its GT folder.

CLI wiring: ``add_arguments(subparser)`` then ``run(args)``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from .classes import CLASS_LISTS
from .data import add_dataset_arguments, dataset_from_args, read_cam_npy, read_label_png
from .data.transforms import crop_val_label
from .errors import ConfigError, DatasetError, WsssZooError
from .fileio import atomic_write_text
from .metrics import CamThresholdSweep, ConfusionMatrix, get_convention, match_size


@dataclass
class EvalResult:
    """What ``eval`` prints and writes as JSON: mIoU and per-class IoU in percent (null = class absent)."""

    miou: float
    iou: List[Optional[float]]
    n_images: int
    classes: List[str]
    convention: str
    mean: str
    dataset: str
    split: str
    gt_dir: str
    pred_dir: str
    kind: str = "label"
    pixel_accuracy: Optional[float] = None
    threshold: Optional[float] = None
    sweep: Optional[dict] = None
    warnings: List[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        lines = [f"{'class':>16} {'IoU':>7}"]
        for name, value in zip(self.classes, self.iou):
            lines.append(f"{name:>16} {'-' if value is None else f'{value:7.2f}':>7}")
        head = f"mIoU {self.miou:.2f} ({self.mean}, convention {self.convention}) on {self.n_images} images of " \
               f"{self.dataset} {self.split}"
        if self.threshold is not None:
            head += f", background threshold {self.threshold:.2f}"
            if self.sweep and len(self.sweep["thresholds"]) > 1:
                head += f" (best of {len(self.sweep['thresholds'])} swept)"
        return "\n".join([head] + lines + [f"{'mIoU':>16} {self.miou:7.2f}"] + [f"warning: {w}" for w in self.warnings])


def _percent(values) -> List[Optional[float]]:
    return [None if (v is None or math.isnan(v)) else round(float(v) * 100, 4) for v in values]


def detect_kind(pred_dir: Path, ids: Sequence[str]) -> str:
    for image_id in ids[:1]:
        if (pred_dir / f"{image_id}.png").is_file():
            return "label"
        if (pred_dir / f"{image_id}.npy").is_file():
            return "cam"
    raise DatasetError(f"no prediction for {ids[0] if ids else '?'} in {pred_dir} (.png label map or .npy CAM)")


def _check_complete(pred_dir: Path, ids: Sequence[str], ext: str) -> None:
    missing = [i for i in ids if not (pred_dir / f"{i}{ext}").is_file()]
    if missing:
        raise DatasetError(f"{len(missing)} of {len(ids)} predictions are missing in {pred_dir} "
                           f"(first: {', '.join(missing[:3])}); generate them or evaluate a --split-file subset")


def evaluate_folder(dataset, pred_dir, *, convention="standard", kind: str = "auto", thresholds=None,
                    crop_val: Optional[int] = None, progress: bool = False) -> EvalResult:
    """Evaluate ``pred_dir`` on every id of ``dataset`` with an upstream ``convention``.

    ``thresholds``: background thresholds for CAM predictions (default: the convention's; several =
    sweep, the best is reported). ``crop_val``: compare on VainF ``--crop_val`` views of the GT.
    """
    conv = get_convention(convention)
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise DatasetError(f"prediction folder {pred_dir} does not exist")
    ids = list(dataset.ids)
    if not ids:
        raise DatasetError("the split has no images")
    kind = detect_kind(pred_dir, ids) if kind == "auto" else kind
    _check_complete(pred_dir, ids, ".png" if kind == "label" else ".npy")
    n = dataset.num_classes
    iterator = ids
    if progress:
        from tqdm import tqdm

        iterator = tqdm(ids, desc="eval", unit="img")
    if kind == "label":
        cm = ConfusionMatrix(n, pred_out_of_range=conv.pred_out_of_range)
        for image_id in iterator:
            gt = dataset.gt(image_id)
            if crop_val:
                gt = crop_val_label(gt, crop_val)
            pred = read_label_png(pred_dir / f"{image_id}.png")
            cm.update(gt, match_size(pred, gt.shape, conv.size_mismatch, f"prediction {image_id}"))
        result_cm, threshold, sweep = cm, None, None
    elif kind == "cam":
        ts = list(thresholds) if thresholds else list(conv.cam_thresholds or (0.15,))
        sw = CamThresholdSweep(n, ts)
        for image_id in iterator:
            gt = dataset.gt(image_id)
            ids_k, cams = read_cam_npy(pred_dir / f"{image_id}.npy")
            if cams.shape[0] and cams.shape[1:] != gt.shape:
                if conv.size_mismatch != "crop":
                    raise DatasetError(f"CAM {image_id} is {cams.shape[1]}x{cams.shape[2]} but the ground truth "
                                       f"is {gt.shape[0]}x{gt.shape[1]}")
                cams = np.stack([match_size(c, gt.shape, "crop") for c in cams])
            sw.update(gt, cams, ids_k)
        res = sw.results(conv.mean)
        result_cm, threshold = res.best_matrix, res.best_threshold
        sweep = {"thresholds": [round(t, 6) for t in res.thresholds],
                 "miou": [None if math.isnan(m) else round(m * 100, 4) for m in res.mious]}
    else:
        raise ConfigError(f"kind must be label, cam or auto, got {kind!r}")
    warnings = []
    if result_cm.gt_out_of_range:
        warnings.append(f"{result_cm.gt_out_of_range} GT pixels hold values >= {n} other than 255 and were ignored; "
                        "is this the right dataset/class count?")
    gt_dir = str(getattr(dataset, "gt_dir", "") or Path(dataset.gt_path(ids[0])).parent)
    return EvalResult(
        miou=round(result_cm.miou(conv.mean) * 100, 4), iou=_percent(result_cm.iou()), n_images=len(ids),
        classes=list(CLASS_LISTS[dataset.name]), convention=conv.name, mean=conv.mean, dataset=dataset.name,
        split=dataset.split, gt_dir=gt_dir, pred_dir=str(pred_dir), kind=kind,
        pixel_accuracy=round(result_cm.pixel_accuracy() * 100, 4), threshold=threshold, sweep=sweep,
        warnings=warnings)


def parse_thresholds(text: Optional[str]) -> Optional[List[float]]:
    """``0.15`` | ``0.1,0.2`` | ``START:STOP:STEP`` (STOP inclusive, values i*STEP like upstream loops)."""
    if not text:
        return None
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            scale = round(1 / step)
            if not math.isclose(scale * step, 1.0):
                raise ValueError("STEP must divide 1 (0.01, 0.05, ...)")
            return [i / scale for i in range(round(start * scale), round(stop * scale) + 1)]
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise ConfigError(f"--threshold {text!r}: {exc}; use 0.15, 0.1,0.2 or 0.00:0.59:0.01") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``wsss-zoo eval``."""
    from .metrics import CONVENTIONS

    parser.add_argument("--pred", required=True, metavar="DIR", help="folder of <id>.png label maps or <id>.npy CAMs")
    add_dataset_arguments(parser)
    parser.add_argument("--convention", default="standard", choices=sorted(CONVENTIONS),
                        help="upstream evaluator to follow (mean, out-of-range predictions, GT folder); "
                             "default: %(default)s")
    parser.add_argument("--gt", default=None, metavar="FOLDER",
                        help="VOC GT folder: SegmentationClass, SegmentationClassAug or a path "
                             "(default: the convention's)")
    parser.add_argument("--kind", choices=("auto", "label", "cam"), default="auto")
    parser.add_argument("--threshold", default=None, metavar="T|A,B|START:STOP:STEP",
                        help="CAM background threshold(s); several = sweep, best reported")
    parser.add_argument("--crop-val", type=int, default=None, metavar="SIZE",
                        help="compare on VainF --crop_val views of the GT (DRS DeepLab-V3+ numbers: 513)")
    parser.add_argument("--json", default=None, metavar="OUT", help="also write the result as JSON")
    parser.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    """Evaluate and print; returns the exit status (0 ok, 2 bad input)."""
    try:
        conv = get_convention(args.convention)
        options = {}
        if getattr(args, "voc_root", None):
            options["gt"] = args.gt or conv.voc_gt
        elif args.gt:
            raise ConfigError("--gt applies to VOC; COCO GT folders follow the layout")
        dataset = dataset_from_args(args, **options)
        result = evaluate_folder(dataset, args.pred, convention=conv, kind=args.kind,
                                 thresholds=parse_thresholds(args.threshold), crop_val=args.crop_val,
                                 progress=not args.no_progress and sys.stderr.isatty())
    except WsssZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.table())
    if args.json:
        atomic_write_text(args.json, json.dumps(result.to_json(), indent=1))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wsss_zoo.evaluate", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

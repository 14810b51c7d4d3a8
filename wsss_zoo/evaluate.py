"""mIoU of a folder of predictions against a dataset split's ground truth.

Predictions are ``<pred>/<id>.png`` label maps (any palette or grey index PNG) or ``<pred>/<id>.npy``
CAM dicts (any upstream style, :func:`wsss_zoo.data.read_cam_npy`), which are evaluated with a
background threshold or a threshold sweep (best threshold reported, as SEAM ``--curve`` and RIB do).
``--convention`` picks an upstream evaluator's rules (:data:`wsss_zoo.metrics.CONVENTIONS`): its mean,
its handling of out-of-range predictions and size mismatches, and its GT folder.

The command line (``wsss-zoo eval``) is :mod:`wsss_zoo.cli.eval_command`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from .classes import CLASS_LISTS
from .data import read_cam_npy, read_label_png
from .data.transforms import crop_val_label
from .errors import ConfigError, DatasetError
from .metrics import CamThresholdSweep, ConfusionMatrix, cam_to_labels, get_convention, match_size, nan_mean
from .report.page import RunReport
from .report.stats import ImageStats, SweepImage


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
    #: per-class precision TP / predicted and recall TP / GT in percent (null where undefined) and their means
    precision: List[Optional[float]] = field(default_factory=list)
    recall: List[Optional[float]] = field(default_factory=list)
    mean_precision: Optional[float] = None
    mean_recall: Optional[float] = None

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


def _not_counted(gt: np.ndarray, n: int) -> int:
    """GT pixels that no convention counts (255 ignore, or values outside 0..n-1)."""
    return int(gt.size - np.count_nonzero(gt < n))


def _evaluate(dataset, pred_dir, conv, kind, thresholds, crop_val, progress, collect: bool):
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise DatasetError(f"prediction folder {pred_dir} does not exist")
    ids = list(dataset.ids)
    if not ids:
        raise DatasetError("the split has no images")
    kind = detect_kind(pred_dir, ids) if kind == "auto" else kind
    if kind not in ("label", "cam"):
        raise ConfigError(f"kind must be label, cam or auto, got {kind!r}")
    _check_complete(pred_dir, ids, ".png" if kind == "label" else ".npy")
    n = dataset.num_classes
    iterator = ids
    if progress:
        from tqdm import tqdm

        iterator = tqdm(ids, desc="eval", unit="img", disable=None)  # only when stderr is a terminal
    per_image = []
    if kind == "label":
        cm = ConfusionMatrix(n, pred_out_of_range=conv.pred_out_of_range)
        for image_id in iterator:
            gt = _gt_view(dataset, image_id, crop_val)
            pred = match_size(read_label_png(pred_dir / f"{image_id}.png"), gt.shape, conv.size_mismatch,
                              f"prediction {image_id}")
            if not collect:
                cm.update(gt, pred)
                continue
            one = ConfusionMatrix(n, pred_out_of_range=conv.pred_out_of_range)
            one.update(gt, pred)
            cm.merge(one)
            invalid = int(np.count_nonzero((gt < n) & (pred >= n)))  # counted GT, out-of-range prediction
            per_image.append(ImageStats.from_matrix(image_id, one.matrix, one.missed, ignored=_not_counted(gt, n),
                                                    invalid=invalid))
        result_cm, threshold, sweep = cm, None, None
    else:
        ts = list(thresholds) if thresholds else list(conv.cam_thresholds or (0.15,))
        sw = CamThresholdSweep(n, ts)
        for image_id in iterator:
            gt = dataset.gt(image_id)
            ids_k, cams = _cam_view(pred_dir, image_id, gt.shape, conv)
            counts = sw.update(gt, cams, ids_k)
            if collect:
                per_image.append(SweepImage.from_counts(image_id, counts, n, ignored=_not_counted(gt, n)))
        res = sw.results(conv.mean)
        result_cm, threshold = res.best_matrix, res.best_threshold
        sweep = {"thresholds": [round(t, 6) for t in res.thresholds],
                 "miou": [None if math.isnan(m) else round(m * 100, 4) for m in res.mious]}
        per_image = [s.at(res.best_index) for s in per_image]
    warnings = []
    if result_cm.gt_out_of_range:
        warnings.append(f"{result_cm.gt_out_of_range} GT pixels hold values >= {n} other than 255 and were ignored; "
                        "is this the right dataset/class count?")
    gt_dir = str(getattr(dataset, "gt_dir", "") or Path(dataset.gt_path(ids[0])).parent)
    result = EvalResult(
        miou=round(result_cm.miou(conv.mean) * 100, 4), iou=_percent(result_cm.iou()), n_images=len(ids),
        classes=list(CLASS_LISTS[dataset.name]), convention=conv.name, mean=conv.mean, dataset=dataset.name,
        split=dataset.split, gt_dir=gt_dir, pred_dir=str(pred_dir), kind=kind,
        pixel_accuracy=round(result_cm.pixel_accuracy() * 100, 4), threshold=threshold, sweep=sweep,
        warnings=warnings, precision=_percent(result_cm.precision()), recall=_percent(result_cm.recall()),
        mean_precision=_percent([nan_mean(result_cm.precision())])[0],
        mean_recall=_percent([nan_mean(result_cm.recall())])[0])
    details = RunReport(str(pred_dir), result.to_json(), result_cm.matrix.copy(), result_cm.missed.copy(), per_image,
                        sum(s.ignored for s in per_image), sum(s.invalid for s in per_image))
    return result, details


def _gt_view(dataset, image_id: str, crop_val: Optional[int]) -> np.ndarray:
    gt = dataset.gt(image_id)
    return crop_val_label(gt, crop_val) if crop_val else gt


def _cam_view(pred_dir: Path, image_id: str, shape, conv):
    """CAM maps of one image at the GT size (cropped when the convention crops, else an error)."""
    ids_k, cams = read_cam_npy(pred_dir / f"{image_id}.npy")
    if cams.shape[0] and cams.shape[1:] != tuple(shape):
        if conv.size_mismatch != "crop":
            raise DatasetError(f"CAM {image_id} is {cams.shape[1]}x{cams.shape[2]} but the ground truth "
                               f"is {shape[0]}x{shape[1]}")
        cams = np.stack([match_size(c, shape, "crop") for c in cams])
    return ids_k, cams


def evaluate_folder(dataset, pred_dir, *, convention="standard", kind: str = "auto", thresholds=None,
                    crop_val: Optional[int] = None, progress: bool = False, report=None,
                    report_images: int = 8, command: Optional[str] = None) -> EvalResult:
    """Evaluate ``pred_dir`` on every id of ``dataset`` with an upstream ``convention``.

    ``thresholds``: background thresholds for CAM predictions (default: the convention's; several =
    sweep, the best is reported). ``crop_val``: compare on VainF ``--crop_val`` views of the GT.
    ``report``: also write the HTML report there (docs/report.md), its gallery showing the
    ``report_images`` worst and best images; ``command`` is the command line it names (default: this call).
    """
    return evaluate_folders(dataset, [pred_dir], convention=convention, kind=kind, thresholds=thresholds,
                            crop_val=crop_val, progress=progress, report=report, report_images=report_images,
                            command=command)[0]


def evaluate_folders(dataset, pred_dirs: Sequence, *, names: Optional[Sequence[str]] = None,
                     convention="standard", kind: str = "auto", thresholds=None, crop_val: Optional[int] = None,
                     progress: bool = False, report=None, report_images: int = 8,
                     command: Optional[str] = None) -> List[EvalResult]:
    """:func:`evaluate_folder` for one or two prediction folders (e.g. two methods, or fp32 and bf16
    outputs); with two, ``report`` compares them: per-class differences and the images where they
    differ most. ``names`` label the runs in the report (default: the folder names)."""
    conv = get_convention(convention)
    pred_dirs = list(pred_dirs)
    if not pred_dirs:
        raise ConfigError("give at least one prediction folder")
    if report is not None and len(pred_dirs) > 2:
        raise ConfigError(f"a report shows one prediction folder or compares two, not {len(pred_dirs)}")
    collect = report is not None
    runs = [_evaluate(dataset, d, conv, kind, thresholds, crop_val, progress, collect) for d in pred_dirs]
    if collect:
        from .report.build import write_eval_report

        def load_prediction(run: int, image_id: str, shape) -> np.ndarray:
            result = runs[run][0]
            if result.kind == "label":
                pred = match_size(read_label_png(Path(result.pred_dir) / f"{image_id}.png"), shape,
                                  conv.size_mismatch, f"prediction {image_id}")
                # shown as counted: IRN's evaluator turns out-of-range predictions into background
                return np.where(pred >= dataset.num_classes, 0, pred).astype(np.uint8) \
                    if conv.pred_out_of_range == "background" else pred
            ids_k, cams = _cam_view(Path(result.pred_dir), image_id, shape, conv)
            return cam_to_labels(cams, ids_k, result.threshold)

        write_eval_report(report, dataset, [d for _, d in runs], conv, load_prediction, names=names,
                          crop_val=crop_val, k=report_images,
                          command=command or _call_text(dataset, pred_dirs, conv, kind, thresholds, crop_val))
    return [result for result, _ in runs]


def _call_text(dataset, pred_dirs, conv, kind, thresholds, crop_val) -> str:
    args = [f"open_dataset({dataset.name!r}, {str(getattr(dataset, 'root', ''))!r}, {dataset.split!r})",
            repr([str(d) for d in pred_dirs]), f"convention={conv.name!r}"]
    args += [f"{k}={v!r}" for k, v in (("kind", kind), ("thresholds", thresholds), ("crop_val", crop_val))
             if v not in (None, "auto")]
    return f"wsss_zoo.evaluate.evaluate_folders({', '.join(args)}, report=...)"

"""Streaming confusion-matrix mIoU with the conventions of the upstream evaluators.

All upstream evaluators accumulate a confusion matrix (rows = ground truth, columns = prediction)
and compute IoU_c = TP / (GT_c + Pred_c - TP); they differ in four places (foundations.md section 9),
which are options here:

* ``mean``: ``"nanmean"`` (classes absent from both GT and prediction are skipped: IRN/chainercv,
  EPS ``evaluate_png.py``, VainF ``StreamSegMetrics``, DRS ``IOUMetric``), ``"plain"`` (mean over all
  classes, an absent class counts 0: SEAM/SBNet ``evaluation.py``, whose ``+1e-10`` makes 0/0 = 0),
  ``"present"`` (nanmean over the classes present in the GT: kazuto1011 ``libs/utils/metric.scores``).
* ``pred_out_of_range`` (a predicted value outside 0..n-1, typically 255): ``"miss"`` (the pixel still
  counts in its GT class, as a miss: SEAM's T_c counts every valid GT pixel), ``"drop"`` (the pixel is
  not counted at all: EPS masks ``pred < n``), ``"background"`` (predicted as class 0: IRN
  ``step/eval_sem_seg.py`` sets prediction 255 to 0).
* ``size_mismatch`` between prediction and GT: ``"error"`` (chainercv, SEAM, VainF) or ``"crop"``
  (EPS crops the prediction PNG to the GT size with PIL, which pads with 0 where it is smaller).
* which GT folder is read (a dataset matter; :data:`CONVENTIONS` records it per evaluator).

GT pixels equal to ``ignore_index`` (255) or outside 0..n-1 are never counted. :class:`CamThresholdSweep`
evaluates CAMs as every upstream CAM evaluator does: a constant background score t is put before the
class maps and the argmax taken (IRN ``step/eval_cam.py``, SEAM ``evaluation.py --type npy``), for one
or many thresholds in a single pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from .errors import ConfigError, DatasetError

MEANS = ("nanmean", "plain", "present")
PRED_OUT_OF_RANGE = ("miss", "drop", "background")
SIZE_MISMATCH = ("error", "crop")


@dataclass(frozen=True)
class Convention:
    """How one upstream evaluator turns label maps into mIoU (see module docstring)."""

    name: str
    mean: str = "nanmean"
    pred_out_of_range: str = "miss"
    size_mismatch: str = "error"
    #: GT folder per dataset ("voc": folder under VOC2012; "coco": layout-dependent, see data.coco)
    voc_gt: str = "auto"
    source: str = ""
    #: CAM evaluation: a single background threshold or the sweep (start, stop inclusive, step)
    cam_thresholds: Optional[Sequence[float]] = None

    def __post_init__(self):
        if self.mean not in MEANS:
            raise ConfigError(f"mean must be one of {MEANS}, got {self.mean!r}")
        if self.pred_out_of_range not in PRED_OUT_OF_RANGE:
            raise ConfigError(f"pred_out_of_range must be one of {PRED_OUT_OF_RANGE}, got {self.pred_out_of_range!r}")
        if self.size_mismatch not in SIZE_MISMATCH:
            raise ConfigError(f"size_mismatch must be one of {SIZE_MISMATCH}, got {self.size_mismatch!r}")


#: SEAM/SBNet ``evaluation.py --curve``: t = i/100 for i in 0..59.
SEAM_CURVE = tuple(i / 100.0 for i in range(60))
#: RIB ``run_sample.py`` eval_cam pass on VOC: 0.20 .. 0.49.
RIB_VOC_SWEEP = tuple(i / 100.0 for i in range(20, 50))
#: RIB ``run_sample_coco.py``: 0.10 .. 0.50.
RIB_COCO_SWEEP = tuple(i / 100.0 for i in range(10, 51))

CONVENTIONS: Dict[str, Convention] = {c.name: c for c in (
    Convention("standard", "nanmean", "miss", "error", "auto",
               "nanmean over classes present in GT or prediction; GT 255 ignored"),
    Convention("seam", "plain", "miss", "error", "SegmentationClass",
               "SEAM/SBNet/PSA-lineage evaluation.py (plain mean over 21 classes)", SEAM_CURVE),
    Convention("irn", "nanmean", "background", "error", "SegmentationClass",
               "IRN step/eval_cam.py, eval_sem_seg.py (chainercv confusion, pred 255 -> 0)", (0.15,)),
    Convention("rib", "nanmean", "background", "error", "SegmentationClass",
               "RIB step/eval_cam.py sweep 0.20..0.49, eval_sem_seg.py", RIB_VOC_SWEEP),
    Convention("eps", "nanmean", "drop", "crop", "SegmentationClassAug",
               "EPS evaluate_png.py (pred >= n dropped, pred cropped to GT size)", (0.20,)),
    Convention("kazuto", "present", "miss", "error", "SegmentationClassAug",
               "kazuto1011 deeplab-pytorch libs/utils/metric.scores (DRS DeepLab-V2 main.py)"),
    Convention("vainf", "nanmean", "miss", "error", "SegmentationClass",
               "VainF DeepLabV3Plus metrics/stream_metrics.StreamSegMetrics (DRS eval.py)"),
    Convention("drs", "nanmean", "miss", "error", "SegmentationClassAug",
               "DRS utils/Metrics.IOUMetric (test_cls.py, test_refine.py)"),
)}


def get_convention(name_or_conv) -> Convention:
    if isinstance(name_or_conv, Convention):
        return name_or_conv
    try:
        return CONVENTIONS[name_or_conv]
    except KeyError:
        raise ConfigError(f"unknown evaluation convention {name_or_conv!r}; choose one of "
                          f"{', '.join(CONVENTIONS)}") from None


def match_size(pred: np.ndarray, shape, mode: str, what: str = "prediction") -> np.ndarray:
    """Return ``pred`` at ``shape`` (H, W): unchanged, or cropped/zero-padded at the bottom-right (PIL crop)."""
    if pred.shape == tuple(shape):
        return pred
    if mode == "crop":
        out = np.zeros(tuple(shape), dtype=pred.dtype)
        h, w = min(pred.shape[0], shape[0]), min(pred.shape[1], shape[1])
        out[:h, :w] = pred[:h, :w]
        return out
    raise DatasetError(f"{what} is {pred.shape[0]}x{pred.shape[1]} but the ground truth is "
                       f"{shape[0]}x{shape[1]}; predictions must be at the image's original size")


class ConfusionMatrix:
    """Streaming n x n confusion matrix (rows GT, columns prediction) with upstream conventions."""

    def __init__(self, num_classes: int, *, ignore_index: int = 255, pred_out_of_range: str = "miss"):
        if pred_out_of_range not in PRED_OUT_OF_RANGE:
            raise ConfigError(f"pred_out_of_range must be one of {PRED_OUT_OF_RANGE}")
        self.n = int(num_classes)
        self.ignore_index = ignore_index
        self.pred_out_of_range = pred_out_of_range
        self.matrix = np.zeros((self.n, self.n), dtype=np.int64)
        #: GT pixels (per GT class) whose prediction was out of range and counted as a miss
        self.missed = np.zeros(self.n, dtype=np.int64)
        #: GT pixels with values outside 0..n-1 other than ignore_index (a sign of a wrong class count)
        self.gt_out_of_range = 0
        self.n_images = 0

    def update(self, gt: np.ndarray, pred: np.ndarray) -> None:
        """Add one image; ``gt`` and ``pred`` are integer arrays of the same shape."""
        gt = np.asarray(gt)
        pred = np.asarray(pred)
        if gt.shape != pred.shape:
            raise DatasetError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
        gt = gt.reshape(-1).astype(np.int64)
        pred = pred.reshape(-1).astype(np.int64)
        in_range = (gt >= 0) & (gt < self.n)
        self.gt_out_of_range += int(np.count_nonzero(~in_range & (gt != self.ignore_index)))
        gt, pred = gt[in_range], pred[in_range]
        bad = (pred < 0) | (pred >= self.n)
        if bad.any():
            if self.pred_out_of_range == "background":
                pred = np.where(bad, 0, pred)
            elif self.pred_out_of_range == "drop":
                gt, pred = gt[~bad], pred[~bad]
            else:
                self.missed += np.bincount(gt[bad], minlength=self.n)
                gt, pred = gt[~bad], pred[~bad]
        self.matrix += np.bincount(gt * self.n + pred, minlength=self.n * self.n).reshape(self.n, self.n)
        self.n_images += 1

    def merge(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        self.matrix += other.matrix
        self.missed += other.missed
        self.gt_out_of_range += other.gt_out_of_range
        self.n_images += other.n_images
        return self

    @property
    def gt_counts(self) -> np.ndarray:
        return self.matrix.sum(axis=1) + self.missed

    @property
    def pred_counts(self) -> np.ndarray:
        return self.matrix.sum(axis=0)

    def iou(self) -> np.ndarray:
        """Per-class IoU in 0..1 (float64); NaN where the class is absent from both GT and prediction."""
        tp = np.diag(self.matrix).astype(np.float64)
        denom = self.gt_counts + self.pred_counts - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)

    def miou(self, mean: str = "nanmean") -> float:
        """Mean IoU in 0..1 with the given reduction (see module docstring)."""
        return mean_iou(self.iou(), mean, self.gt_counts)

    def pixel_accuracy(self) -> float:
        total = self.gt_counts.sum()
        return float(np.trace(self.matrix) / total) if total else float("nan")

    def precision(self) -> np.ndarray:
        """Per-class precision TP / predicted pixels in 0..1; NaN where the class was never predicted."""
        return _ratio(np.diag(self.matrix), self.pred_counts)

    def recall(self) -> np.ndarray:
        """Per-class recall TP / GT pixels in 0..1 (missed out-of-range predictions count in the GT);
        NaN where the class is absent from the GT."""
        return _ratio(np.diag(self.matrix), self.gt_counts)


def _ratio(num, den) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def nan_mean(values) -> float:
    """Mean over the defined (non-NaN) entries; NaN when there are none (mean precision and recall)."""
    values = np.asarray(values, dtype=np.float64)
    valid = ~np.isnan(values)
    return float(values[valid].mean()) if valid.any() else float("nan")


def mean_iou(iou: np.ndarray, mean: str = "nanmean", gt_counts: Optional[np.ndarray] = None) -> float:
    """Reduce per-class IoUs: ``"nanmean"``, ``"plain"`` (NaN counts 0) or ``"present"`` (GT classes only)."""
    iou = np.asarray(iou, dtype=np.float64)
    if mean == "nanmean":
        valid = ~np.isnan(iou)
        return float(iou[valid].mean()) if valid.any() else float("nan")
    if mean == "plain":
        return float(np.nan_to_num(iou, nan=0.0).mean()) if iou.size else float("nan")
    if mean == "present":
        if gt_counts is None:
            raise ConfigError("mean='present' needs the GT pixel counts")
        valid = np.asarray(gt_counts) > 0
        return float(np.nanmean(iou[valid])) if valid.any() else float("nan")
    raise ConfigError(f"mean must be one of {MEANS}, got {mean!r}")


class CamThresholdSweep:
    """Confusion matrices of CAM label maps for many background thresholds, in one pass per image.

    Upstream (IRN ``step/eval_cam.py``, SEAM ``evaluation.py --type npy``) puts a constant plane t
    before the class maps and takes the argmax in float32, ties going to background (index 0) and then
    to the lowest class id. So for pixel p with top class score m_p and top class k_p, the prediction
    at threshold t is k_p when m_p > float32(t) and background otherwise. Counting, per (gt, k) pair, how many
    thresholds lie below m_p gives every threshold's matrix from a single ``bincount``.
    """

    def __init__(self, num_classes: int, thresholds: Iterable[float], *, ignore_index: int = 255):
        self.thresholds = np.asarray(sorted(float(t) for t in thresholds), dtype=np.float64)
        if self.thresholds.size == 0:
            raise ConfigError("give at least one background threshold")
        self.n = int(num_classes)
        self.ignore_index = ignore_index
        m = self.thresholds.size
        self._counts = np.zeros((self.n * self.n, m + 1), dtype=np.int64)
        self.gt_out_of_range = 0
        self.n_images = 0

    def update(self, gt: np.ndarray, cams: np.ndarray, ids: Sequence[int]) -> np.ndarray:
        """Add one image: ``cams`` [K, H, W] (full resolution), ``ids`` their segmentation ids.

        Returns the image's own counts (``n*n`` x ``m+1``, see :meth:`confusion_from_counts`), from which
        its confusion matrix at any threshold follows (per-image statistics of the HTML report).
        """
        gt = np.asarray(gt)
        cams = np.asarray(cams, dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        if cams.shape[0] and cams.shape[1:] != gt.shape:
            raise DatasetError(f"CAM maps are {cams.shape[1]}x{cams.shape[2]} but the ground truth is "
                               f"{gt.shape[0]}x{gt.shape[1]}; CAMs must be at the image's original size")
        if cams.shape[0] != ids.size:
            raise DatasetError(f"{cams.shape[0]} CAM maps for {ids.size} class ids")
        m = self.thresholds.size
        gt = gt.reshape(-1).astype(np.int64)
        in_range = (gt >= 0) & (gt < self.n)
        self.gt_out_of_range += int(np.count_nonzero(~in_range & (gt != self.ignore_index)))
        if cams.shape[0] == 0:  # no class: background everywhere, whatever the threshold
            fg = np.zeros(gt.size, np.int64)
            below = np.zeros(gt.size, np.int64)
        else:
            if ids.max() >= self.n or ids.min() < 1:
                raise DatasetError(f"CAM class ids {ids.tolist()} are outside 1..{self.n - 1}")
            flat = cams.reshape(cams.shape[0], -1)
            fg = ids[np.argmax(flat, axis=0)]
            top = flat.max(axis=0)
            # number of thresholds strictly below the top score (float32 comparison, as upstream)
            below = np.searchsorted(self.thresholds.astype(np.float32), top, side="left")
        gt, fg, below = gt[in_range], fg[in_range], below[in_range]
        idx = (gt * self.n + fg) * (m + 1) + below
        counts = np.bincount(idx, minlength=self.n * self.n * (m + 1)).reshape(self.n * self.n, m + 1)
        self._counts += counts
        self.n_images += 1
        return counts

    def confusion(self, j: int) -> np.ndarray:
        """The confusion matrix at threshold index ``j`` (in sorted order)."""
        return self.confusion_from_counts(self._counts, self.n, j)

    @staticmethod
    def confusion_from_counts(counts: np.ndarray, n: int, j: int) -> np.ndarray:
        """Confusion matrix at threshold index ``j`` of sweep counts: ``counts[gt * n + k, b]`` pixels of GT
        class gt whose top class is k with b thresholds strictly below the top score."""
        fg_part = counts[:, j + 1:].sum(axis=1).reshape(n, n)   # thresholds below the score
        bg_part = counts[:, :j + 1].sum(axis=1).reshape(n, n).sum(axis=1)
        mat = fg_part.copy()
        mat[:, 0] += bg_part
        return mat

    def matrices(self) -> List[ConfusionMatrix]:
        out = []
        for j in range(self.thresholds.size):
            cm = ConfusionMatrix(self.n, ignore_index=self.ignore_index)
            cm.matrix = self.confusion(j)
            cm.n_images = self.n_images
            cm.gt_out_of_range = self.gt_out_of_range
            out.append(cm)
        return out

    def results(self, mean: str = "nanmean") -> "SweepResult":
        cms = self.matrices()
        mious = [cm.miou(mean) for cm in cms]
        best = int(np.nanargmax(mious)) if not np.all(np.isnan(mious)) else 0
        return SweepResult(self.thresholds.tolist(), mious, best, cms[best])


@dataclass
class SweepResult:
    thresholds: List[float]
    mious: List[float]
    best_index: int
    best_matrix: ConfusionMatrix = field(repr=False)

    @property
    def best_threshold(self) -> float:
        return self.thresholds[self.best_index]

    @property
    def best_miou(self) -> float:
        return self.mious[self.best_index]


def cam_to_labels(cams: np.ndarray, ids: Sequence[int], threshold: float) -> np.ndarray:
    """Label map of CAMs at one background threshold, as :class:`CamThresholdSweep` counts it.

    Pixel p gets the class of its top score when that score exceeds ``float32(threshold)``, else
    background 0 (IRN ``step/eval_cam.py``: argmax over ``[t, cams]``, ties to background).
    ``cams`` [K, H, W]; ``ids`` the K segmentation ids; no class gives an all-background map.
    """
    cams = np.asarray(cams, dtype=np.float32)
    if cams.ndim != 3:
        raise DatasetError(f"CAM maps must be K x H x W, got shape {cams.shape}")
    if cams.shape[0] == 0:
        return np.zeros(cams.shape[1:], np.uint8)
    ids = np.asarray(ids, dtype=np.int64)
    labels = ids[np.argmax(cams, axis=0)]
    return np.where(cams.max(axis=0) > np.float32(threshold), labels, 0).astype(np.uint8)

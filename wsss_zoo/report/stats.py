"""Statistics of an evaluation run for the HTML report: per-image IoU, per-class table, selections.

Everything here is pure numpy on confusion counts (rows = ground truth, columns = prediction, as in
:mod:`wsss_zoo.metrics`); :mod:`wsss_zoo.evaluate` collects the counts while it evaluates.

* :class:`ImageStats` -- one image's counts per class present in its GT or prediction. Its IoU is the
  mean over those classes of TP / (GT + Pred - TP): the ``nanmean`` convention applied to one image,
  whatever the run's convention (a plain mean over 21 classes would make every image look bad).
* :class:`SweepImage` -- one image's CAM counts for every background threshold, kept sparse until the
  sweep has picked its threshold (:meth:`SweepImage.at`).
* :func:`class_rows` -- the per-class table: IoU, precision, recall, GT and predicted pixel share.
* :func:`gallery_selection` / :func:`difference_selection` -- which images the gallery shows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np



@dataclass
class ImageStats:
    """Per-class pixel counts of one image (classes present in its GT or prediction, ascending)."""

    id: str
    classes: np.ndarray            # segmentation ids
    tp: np.ndarray
    gt: np.ndarray                 # GT pixels counted (incl. pixels whose out-of-range prediction is a miss)
    pred: np.ndarray               # predicted pixels counted
    ignored: int = 0               # GT pixels not counted (255 or outside 0..n-1)
    invalid: int = 0               # counted GT pixels whose prediction was outside 0..n-1

    @classmethod
    def from_matrix(cls, image_id: str, matrix: np.ndarray, missed: Optional[np.ndarray] = None, *,
                    ignored: int = 0, invalid: int = 0) -> "ImageStats":
        """From an image's n x n confusion matrix (and its per-GT-class missed pixels)."""
        matrix = np.asarray(matrix, dtype=np.int64)
        gt = matrix.sum(axis=1) + (0 if missed is None else np.asarray(missed, dtype=np.int64))
        pred = matrix.sum(axis=0)
        present = np.flatnonzero((gt > 0) | (pred > 0))
        return cls(image_id, present, np.diag(matrix)[present], gt[present], pred[present], int(ignored),
                   int(invalid))

    @property
    def class_iou(self) -> np.ndarray:
        """IoU (0..1) of each class in :attr:`classes`."""
        return self.tp / np.maximum(self.gt + self.pred - self.tp, 1)

    @property
    def miou(self) -> float:
        """Mean IoU (0..1) over the image's classes; NaN for an image without counted pixels."""
        return float(self.class_iou.mean()) if self.classes.size else float("nan")

    @property
    def gt_classes(self) -> List[int]:
        return self.classes[self.gt > 0].tolist()

    @property
    def pred_classes(self) -> List[int]:
        return self.classes[self.pred > 0].tolist()

    def iou_of(self, c: int) -> float:
        """IoU of class ``c`` in this image (NaN when absent from both GT and prediction)."""
        where = np.flatnonzero(self.classes == c)
        return float(self.class_iou[where[0]]) if where.size else float("nan")


@dataclass
class SweepImage:
    """One image's CAM sweep counts (:meth:`CamThresholdSweep.update`), stored sparse."""

    id: str
    n: int
    m: int                          # number of thresholds
    cells: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    ignored: int = 0

    @classmethod
    def from_counts(cls, image_id: str, counts: np.ndarray, n: int, *, ignored: int = 0) -> "SweepImage":
        flat = np.asarray(counts).reshape(-1)
        cells = np.flatnonzero(flat)
        return cls(image_id, n, counts.shape[1] - 1, cells.astype(np.int64), flat[cells].astype(np.int64),
                   int(ignored))

    def at(self, j: int) -> ImageStats:
        """The image's statistics at threshold index ``j``: a pixel whose top class is k with b thresholds
        below its score is k when b > j, else background (as :meth:`CamThresholdSweep.confusion_from_counts`)."""
        pair, below = np.divmod(self.cells, self.m + 1)
        gt, top = np.divmod(pair, self.n)
        pred = np.where(below > j, top, 0)
        matrix = np.bincount(gt * self.n + pred, weights=self.values, minlength=self.n * self.n)
        return ImageStats.from_matrix(self.id, matrix.reshape(self.n, self.n).astype(np.int64),
                                      ignored=self.ignored)


# --------------------------------------------------------------------------- per-class table
def _share(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else np.full(counts.shape, np.nan)


def class_rows(matrix: np.ndarray, missed: Optional[np.ndarray], classes: Sequence[str]) -> List[dict]:
    """One row per class: ``iou``, ``precision``, ``recall`` (0..1, None where undefined), ``gt_share``
    and ``pred_share`` (fraction of all counted GT / predicted pixels), ``gt_pixels``, ``pred_pixels``."""
    matrix = np.asarray(matrix, dtype=np.int64)
    gt = matrix.sum(axis=1) + (0 if missed is None else np.asarray(missed, dtype=np.int64))
    pred = matrix.sum(axis=0)
    tp = np.diag(matrix)
    rows = []
    gt_share, pred_share = _share(gt), _share(pred)
    for c, name in enumerate(classes):
        union = gt[c] + pred[c] - tp[c]
        rows.append({"id": c, "name": name,
                     "iou": float(tp[c] / union) if union else None,
                     "precision": float(tp[c] / pred[c]) if pred[c] else None,
                     "recall": float(tp[c] / gt[c]) if gt[c] else None,
                     "gt_share": float(gt_share[c]), "pred_share": float(pred_share[c]),
                     "gt_pixels": int(gt[c]), "pred_pixels": int(pred[c])})
    return rows


def row_normalised(matrix: np.ndarray, missed: Optional[np.ndarray] = None) -> np.ndarray:
    """Each GT row divided by its GT pixel count (a missed column appended when given); empty rows are 0."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if missed is not None:
        matrix = np.concatenate([matrix, np.asarray(missed, dtype=np.float64)[:, None]], axis=1)
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


# --------------------------------------------------------------------------- gallery selections
@dataclass
class Pick:
    """An image the gallery shows, and why (``tags``: "worst", "best", "class:<id>", "differ")."""

    id: str
    tags: List[str]


def _add(picks: Dict[str, Pick], image_id: str, tag: str) -> None:
    picks.setdefault(image_id, Pick(image_id, [])).tags.append(tag)


def gallery_selection(images: Sequence[ImageStats], k: int, k_per_class: int = 2) -> List[Pick]:
    """The ``k`` worst and ``k`` best images by IoU, and per class the ``k_per_class`` images in which
    that class (in GT or prediction) has the lowest IoU. Ties keep the evaluation order."""
    scored = [s for s in images if not np.isnan(s.miou)]
    order = sorted(range(len(scored)), key=lambda i: (scored[i].miou, i))
    picks: Dict[str, Pick] = {}
    for i in order[:k]:
        _add(picks, scored[i].id, "worst")
    for i in order[::-1][:k]:
        _add(picks, scored[i].id, "best")
    by_class: Dict[int, List[tuple]] = {}
    for i, s in enumerate(scored):
        for c, value in zip(s.classes.tolist(), s.class_iou.tolist()):
            by_class.setdefault(c, []).append((value, i, s.id))
    for c, entries in by_class.items():
        for _, _, image_id in sorted(entries)[:k_per_class]:
            _add(picks, image_id, f"class:{c}")
    return list(picks.values())


def difference_selection(a: Sequence[ImageStats], b: Sequence[ImageStats], k: int,
                         k_per_class: int = 2) -> List[Pick]:
    """Images where run ``b`` differs most from run ``a``: the ``k`` largest |IoU difference|, and per
    class the ``k_per_class`` largest |class IoU difference| (a class missing from one run's image counts 0)."""
    pairs = [(sa, sb) for sa, sb in zip(a, b) if not (np.isnan(sa.miou) or np.isnan(sb.miou))]
    order = sorted(range(len(pairs)), key=lambda i: (-abs(pairs[i][1].miou - pairs[i][0].miou), i))
    picks: Dict[str, Pick] = {}
    for i in order[:k]:
        _add(picks, pairs[i][0].id, "differ")
    by_class: Dict[int, List[tuple]] = {}
    for i, (sa, sb) in enumerate(pairs):
        for c in sorted(set(sa.classes.tolist()) | set(sb.classes.tolist())):
            ia, ib = sa.iou_of(c), sb.iou_of(c)
            diff = abs(np.nan_to_num(ib) - np.nan_to_num(ia))
            by_class.setdefault(c, []).append((-diff, i, sa.id))
    for c, entries in by_class.items():
        for _, _, image_id in sorted(entries)[:k_per_class]:
            _add(picks, image_id, f"class:{c}")
    return list(picks.values())

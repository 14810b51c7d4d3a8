"""The report's statistics: precision/recall, CAM labels at a threshold, per-image counts, selections."""
import numpy as np
import pytest

from wsss_zoo.metrics import CamThresholdSweep, ConfusionMatrix, cam_to_labels, nan_mean
from wsss_zoo.report.stats import (ImageStats, SweepImage, class_rows, difference_selection, gallery_selection,
                                   row_normalised)


def test_precision_and_recall_by_hand():
    # gt = [0, 0, 1, 1, 2], pred = [0, 1, 1, 1, 255] (miss): TP = (1, 2, 0); Pred = (1, 3, 0); GT = (2, 2, 1)
    cm = ConfusionMatrix(4)
    cm.update(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 255]))
    np.testing.assert_allclose(cm.precision(), [1.0, 2 / 3, np.nan, np.nan])   # 2 never predicted, 3 absent
    np.testing.assert_allclose(cm.recall(), [0.5, 1.0, 0.0, np.nan])          # 2's pixel was a miss
    assert nan_mean(cm.precision()) == pytest.approx((1 + 2 / 3) / 2)
    assert nan_mean(cm.recall()) == pytest.approx(0.5)
    assert np.isnan(nan_mean([np.nan]))


def test_cam_labels_match_every_threshold_of_the_sweep():
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 4, (9, 11)).astype(np.uint8)
    gt[0, :3] = 255
    ids = [1, 3]
    cams = rng.random((2, 9, 11)).astype(np.float32)
    cams[:, 4, 4] = np.float32(0.25)               # a tie between the classes, and exactly at a threshold
    thresholds = [0.0, 0.25, 0.5, 0.9]
    sweep = CamThresholdSweep(4, thresholds)
    counts = sweep.update(gt, cams, ids)
    image = SweepImage.from_counts("x", counts, 4, ignored=3)
    for j, t in enumerate(thresholds):
        labels = cam_to_labels(cams, ids, t)
        assert labels[4, 4] == (1 if t < 0.25 else 0)  # first class wins a tie; a score equal to t is background
        cm = ConfusionMatrix(4)
        cm.update(gt, labels)
        np.testing.assert_array_equal(sweep.confusion(j), cm.matrix)
        np.testing.assert_array_equal(CamThresholdSweep.confusion_from_counts(counts, 4, j), cm.matrix)
        one = image.at(j)
        reference = ImageStats.from_matrix("x", cm.matrix)
        np.testing.assert_array_equal(one.classes, reference.classes)
        np.testing.assert_array_equal(np.stack([one.tp, one.gt, one.pred]),
                                      np.stack([reference.tp, reference.gt, reference.pred]))
        assert one.ignored == 3
    assert cam_to_labels(np.zeros((0, 2, 3), np.float32), [], 0.1).tolist() == [[0, 0, 0], [0, 0, 0]]


def test_image_iou_by_hand():
    # classes 0 and 2 in the GT, 5 only predicted: IoU0 = 3/(4+3-3), IoU2 = 1/(2+2-1), IoU5 = 0/(0+1)
    matrix = np.zeros((6, 6), int)
    matrix[0, 0], matrix[0, 2], matrix[2, 2], matrix[2, 5] = 3, 1, 1, 1
    s = ImageStats.from_matrix("a", matrix, missed=np.array([0, 0, 0, 0, 0, 0]))
    assert s.classes.tolist() == [0, 2, 5] and s.gt_classes == [0, 2] and s.pred_classes == [0, 2, 5]
    assert s.miou == pytest.approx((3 / 4 + 1 / 3 + 0) / 3)
    assert s.iou_of(2) == pytest.approx(1 / 3) and np.isnan(s.iou_of(1))
    missed = ImageStats.from_matrix("b", matrix, missed=np.array([2, 0, 0, 0, 0, 0]))  # 2 misses of class 0
    assert missed.iou_of(0) == pytest.approx(3 / 6)


def test_class_rows_and_row_normalisation_by_hand():
    matrix = np.array([[6, 2], [1, 1]])
    rows = class_rows(matrix, np.array([0, 2]), ["bg", "cat"])
    # cat: TP 1, GT 1 + 1 + 2 missed = 4, Pred 3 -> IoU 1/6, precision 1/3, recall 1/4
    assert rows[1]["iou"] == pytest.approx(1 / 6) and rows[1]["precision"] == pytest.approx(1 / 3)
    assert rows[1]["recall"] == pytest.approx(1 / 4)
    assert rows[0]["gt_share"] == pytest.approx(8 / 12) and rows[1]["pred_share"] == pytest.approx(3 / 10)
    norm = row_normalised(matrix, np.array([0, 2]))
    np.testing.assert_allclose(norm, [[0.75, 0.25, 0], [0.25, 0.25, 0.5]])
    assert row_normalised(np.zeros((2, 2))).tolist() == [[0, 0], [0, 0]]


def _stats(image_id, per_class):
    """ImageStats in which class c has IoU per_class[c], 1 or 0 (GT = Pred = 10 pixels, TP = 10 or 0)."""
    classes = np.array(sorted(per_class))
    tp = np.array([10 if per_class[c] else 0 for c in classes])
    return ImageStats(image_id, classes, tp, np.full(len(classes), 10), np.full(len(classes), 10))


def test_gallery_and_difference_selections():
    a = [_stats("i0", {0: 1, 1: 0}),     # image IoU 0.5
         _stats("i1", {0: 1, 2: 1}),     # 1.0
         _stats("i2", {0: 0, 2: 0})]     # 0.0
    ious = [s.miou for s in a]
    assert ious[2] < ious[0] < ious[1]
    picks = {p.id: p.tags for p in gallery_selection(a, k=1, k_per_class=1)}
    assert "worst" in picks["i2"] and "best" in picks["i1"] and "class:1" in picks["i0"]
    assert "class:2" in picks["i2"] and "class:2" not in picks["i1"]
    b = [a[0], _stats("i1", {0: 0, 2: 0}), a[2]]
    diff = {p.id: p.tags for p in difference_selection(a, b, k=1, k_per_class=1)}
    assert diff["i1"][0] == "differ" and set(diff) == {"i0", "i1"}  # i0: class 1 ties at 0, first image kept

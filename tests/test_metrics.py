"""mIoU conventions of the upstream evaluators, on arrays whose IoUs are worked out by hand below."""
import numpy as np
import pytest

from wsss_zoo.errors import ConfigError, DatasetError
from wsss_zoo.metrics import (CONVENTIONS, RIB_VOC_SWEEP, SEAM_CURVE, CamThresholdSweep, ConfusionMatrix,
                              match_size, mean_iou)


def _cm(gt, pred, n, **kw):
    cm = ConfusionMatrix(n, **kw)
    cm.update(np.asarray(gt), np.asarray(pred))
    return cm


def test_iou_by_hand_with_ignore():
    # valid pixels (gt != 255): gt 0 -> pred 0, 1; gt 1 -> pred 1, 1; gt 2 -> pred 1.
    # TP = (1, 2, 0); GT = (2, 2, 1); Pred = (1, 4, 0)
    # IoU0 = 1/(2+1-1) = 1/2, IoU1 = 2/(2+4-2) = 1/2, IoU2 = 0/(1+0-0) = 0
    cm = _cm([[0, 0, 1], [1, 2, 255]], [[0, 1, 1], [1, 1, 0]], 3)
    np.testing.assert_allclose(cm.iou(), [0.5, 0.5, 0.0])
    assert cm.miou("nanmean") == pytest.approx(1 / 3)
    assert cm.pixel_accuracy() == pytest.approx(3 / 5)
    assert cm.matrix.sum() == 5


def test_means_differ_as_upstream():
    # n = 4, gt = [0, 0, 1, 1], pred = [0, 3, 1, 1]
    # IoU0 = 1/(2+1-1) = 0.5, IoU1 = 2/2 = 1, IoU2 = NaN (absent), IoU3 = 0/(0+1) = 0
    cm = _cm([0, 0, 1, 1], [0, 3, 1, 1], 4)
    iou = cm.iou()
    assert np.isnan(iou[2])
    assert cm.miou("nanmean") == pytest.approx((0.5 + 1 + 0) / 3)   # IRN, EPS, VainF, DRS
    assert cm.miou("plain") == pytest.approx((0.5 + 1 + 0 + 0) / 4)  # SEAM: absent class counts 0
    assert cm.miou("present") == pytest.approx((0.5 + 1) / 2)       # kazuto: GT-present classes only
    with pytest.raises(ConfigError):
        cm.miou("median")


@pytest.mark.parametrize("mode, expected", [
    # gt = [0, 1, 1, 2], pred = [0, 255, 1, 2], n = 3
    ("miss", (1 + 0.5 + 1) / 3),        # SEAM: the pixel stays in GT class 1: IoU1 = 1/(2+1-1)
    ("drop", 1.0),                      # EPS: the pixel is not counted: IoU1 = 1/1
    ("background", (0.5 + 0.5 + 1) / 3),  # IRN eval_sem_seg: 255 -> 0: IoU0 = 1/(1+2-1), IoU1 = 1/(2+1-1)
])
def test_prediction_out_of_range(mode, expected):
    cm = _cm([0, 1, 1, 2], [0, 255, 1, 2], 3, pred_out_of_range=mode)
    assert cm.miou() == pytest.approx(expected)


def test_gt_values_beyond_classes_are_counted_as_warning():
    cm = _cm([0, 30, 255, 1], [0, 1, 1, 1], 21)
    assert cm.gt_out_of_range == 1 and cm.matrix.sum() == 2


def test_streaming_equals_one_shot_and_merge():
    rng = np.random.default_rng(0)
    gts = [rng.integers(0, 4, (5, 6)) for _ in range(3)]
    preds = [rng.integers(0, 4, (5, 6)) for _ in range(3)]
    a = ConfusionMatrix(4)
    for g, p in zip(gts, preds):
        a.update(g, p)
    b = _cm(np.concatenate(gts), np.concatenate(preds), 4)
    np.testing.assert_array_equal(a.matrix, b.matrix)
    c = _cm(gts[0], preds[0], 4).merge(_cm(np.concatenate(gts[1:]), np.concatenate(preds[1:]), 4))
    np.testing.assert_array_equal(a.matrix, c.matrix)


def test_shape_mismatch_and_crop():
    with pytest.raises(DatasetError, match="shape"):
        ConfusionMatrix(3).update(np.zeros((2, 3)), np.zeros((3, 2)))
    pred = np.array([[1, 2, 3], [4, 5, 6]])
    # EPS: PIL crop((0, 0, w, h)) keeps the top-left part and pads with 0
    np.testing.assert_array_equal(match_size(pred, (3, 2), "crop"), [[1, 2], [4, 5], [0, 0]])
    with pytest.raises(DatasetError, match="original size"):
        match_size(pred, (3, 2), "error")


def test_mean_iou_present_needs_counts():
    with pytest.raises(ConfigError):
        mean_iou([0.5, 1.0], "present")


def test_cam_sweep_by_hand():
    # gt = [0, 1, 1, 2]; cams for ids (1, 2):
    #   id 1: 0.1 0.5 0.3 0.2      top score 0.1 0.5 0.4 0.6
    #   id 2: .05 0.1 0.4 0.6      top class 1   1   2   2
    # t = 0.05: pred 1 1 2 2 -> IoU0 0, IoU1 1/(2+2-1), IoU2 1/(1+2-1) -> (0 + 1/3 + 1/2)/3
    # t = 0.10: pixel 0 ties with t -> background: pred 0 1 2 2 -> 1, 1/2, 1/2 -> 2/3
    # t = 0.45: pred 0 1 0 2 -> IoU0 1/(1+2-1), IoU1 1/2, IoU2 1 -> 2/3
    # t = 0.55: pred 0 0 0 2 -> IoU0 1/3, IoU1 0, IoU2 1 -> 4/9
    # t = 0.70: all background -> IoU0 1/4, IoU1 0, IoU2 0 -> 1/12
    gt = np.array([[0, 1, 1, 2]])
    cams = np.array([[[0.1, 0.5, 0.3, 0.2]], [[0.05, 0.1, 0.4, 0.6]]], np.float32)
    sw = CamThresholdSweep(3, [0.7, 0.05, 0.1, 0.45, 0.55])  # unsorted on purpose
    sw.update(gt, cams, [1, 2])
    res = sw.results("nanmean")
    assert res.thresholds == pytest.approx([0.05, 0.1, 0.45, 0.55, 0.7])
    assert res.mious == pytest.approx([(1 / 3 + 1 / 2) / 3, 2 / 3, 2 / 3, 4 / 9, 1 / 12])
    assert res.best_threshold == pytest.approx(0.1)  # first of the tied maxima, as max() over a list
    np.testing.assert_array_equal(res.best_matrix.matrix, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])


def test_cam_sweep_matches_argmax_over_background_plane():
    """Cross-check with the argmax rule written out directly (np.argmax over [t; cams])."""
    rng = np.random.default_rng(3)
    sw = CamThresholdSweep(21, SEAM_CURVE)
    direct = [ConfusionMatrix(21) for _ in SEAM_CURVE]
    for _ in range(3):
        gt = rng.integers(0, 21, (7, 9))
        gt[0] = 255
        ids = np.sort(rng.choice(np.arange(1, 21), 3, replace=False))
        cams = rng.random((3, 7, 9)).astype(np.float32) * 0.7
        sw.update(gt, cams, ids)
        for t, cm in zip(SEAM_CURVE, direct):
            stack = np.concatenate([np.full((1, 7, 9), t, np.float32), cams])
            cm.update(gt, np.concatenate([[0], ids])[np.argmax(stack, axis=0)])
    for j, cm in enumerate(direct):
        np.testing.assert_array_equal(sw.confusion(j), cm.matrix)


def test_cam_sweep_image_without_classes_and_errors():
    sw = CamThresholdSweep(3, [0.2])
    sw.update(np.array([[0, 1]]), np.zeros((0, 0, 0), np.float32), [])
    np.testing.assert_array_equal(sw.confusion(0), [[1, 0, 0], [1, 0, 0], [0, 0, 0]])
    with pytest.raises(DatasetError, match="original size"):
        sw.update(np.zeros((2, 2)), np.zeros((1, 3, 3), np.float32), [1])
    with pytest.raises(DatasetError, match="outside"):
        sw.update(np.zeros((1, 1)), np.zeros((1, 1, 1), np.float32), [3])


def test_conventions_record_upstream_rules():
    assert CONVENTIONS["seam"].mean == "plain" and CONVENTIONS["seam"].voc_gt == "SegmentationClass"
    assert CONVENTIONS["irn"].pred_out_of_range == "background" and CONVENTIONS["irn"].cam_thresholds == (0.15,)
    assert CONVENTIONS["eps"].size_mismatch == "crop" and CONVENTIONS["eps"].voc_gt == "SegmentationClassAug"
    assert CONVENTIONS["kazuto"].mean == "present"
    assert CONVENTIONS["vainf"].mean == "nanmean"
    assert len(SEAM_CURVE) == 60 and SEAM_CURVE[-1] == 0.59
    assert RIB_VOC_SWEEP[0] == 0.2 and RIB_VOC_SWEEP[-1] == 0.49 and len(RIB_VOC_SWEEP) == 30

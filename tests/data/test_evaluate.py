"""``eval`` over prediction folders on the tiny trees; expected values derived by hand from the masks."""
import json

import numpy as np
import pytest
from PIL import Image

from wsss_zoo import evaluate
from wsss_zoo.cli import main
from wsss_zoo.cli.eval_command import parse_thresholds
from wsss_zoo.data import open_dataset
from wsss_zoo.data.io import write_cam_npy, write_label_png
from wsss_zoo.data.transforms import crop_val_label
from wsss_zoo.errors import DatasetError


def _run(argv):
    """``wsss-zoo eval ARGV --no-progress`` in this process; returns its exit code."""
    return main(["eval"] + argv + ["--no-progress"])


def _write_constant(tree, ids, folder, value):
    for image_id in ids:
        write_label_png(folder / f"{image_id}.png", np.full(tree.sizes[image_id], value, np.uint8))


def _counts(tree, ids):
    masks = [tree.masks[i] for i in ids]
    n_valid = sum(int((m != 255).sum()) for m in masks)
    n_bg = sum(int((m == 0).sum()) for m in masks)
    present = set().union(*(set(np.unique(m).tolist()) for m in masks)) - {0, 255}
    return n_bg, n_valid, len(present)


def test_all_background_predictions_by_hand(voc_tree, tmp_path):
    # every valid pixel predicted 0: IoU_bg = N_bg / N_valid, IoU of each present class = 0, others absent
    ids = voc_tree.splits["train"]
    _write_constant(voc_tree, ids, tmp_path, 0)
    n_bg, n_valid, n_present = _counts(voc_tree, ids)
    iou_bg = n_bg / n_valid
    expected = {"standard": iou_bg / (1 + n_present), "seam": iou_bg / 21, "kazuto": iou_bg / (1 + n_present)}
    for conv, value in expected.items():
        out = tmp_path / f"{conv}.json"
        assert _run(["--pred", str(tmp_path), "--voc-root", str(voc_tree.root), "--split", "train",
                     "--convention", conv, "--json", str(out)]) == 0
        res = json.loads(out.read_text())
        assert res["miou"] == pytest.approx(100 * value, abs=1e-3), conv
        assert res["n_images"] == 3 and len(res["iou"]) == 21 and res["iou"][0] == pytest.approx(100 * iou_bg, abs=1e-3)
        assert res["classes"][15] == "person" and res["convention"] == conv


def test_ignore_predictions_follow_the_convention(voc_tree, tmp_path):
    ids = voc_tree.splits["val"]
    _write_constant(voc_tree, ids, tmp_path, 255)
    n_bg, n_valid, n_present = _counts(voc_tree, ids)
    ds = open_dataset("voc", voc_tree.root, "val")
    irn = evaluate.evaluate_folder(ds, tmp_path, convention="irn")      # 255 -> background
    assert irn.miou == pytest.approx(100 * (n_bg / n_valid) / (1 + n_present), abs=1e-3)
    seam = evaluate.evaluate_folder(ds, tmp_path, convention="seam")    # 255 = a miss everywhere
    assert seam.miou == 0.0


def test_cam_folder_with_threshold_sweep(voc_tree, tmp_path):
    # perfect CAMs (1 inside each class, 0 elsewhere): any threshold in [0, 1) reproduces the mask
    ids = voc_tree.splits["train"]
    for image_id in ids:
        m = voc_tree.masks[image_id]
        cls = sorted(set(np.unique(m).tolist()) - {0, 255})
        write_cam_npy(tmp_path / f"{image_id}.npy", cls, np.stack([(m == c).astype(np.float32) for c in cls]), "irn")
    out = tmp_path / "r.json"
    assert _run(["--pred", str(tmp_path), "--voc-root", str(voc_tree.root), "--split", "train", "--threshold",
                 "0.10:0.30:0.05", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["kind"] == "cam" and res["miou"] == pytest.approx(100.0)
    assert res["sweep"]["thresholds"] == [0.1, 0.15, 0.2, 0.25, 0.3] and res["threshold"] == 0.1
    assert parse_thresholds("0.00:0.59:0.01")[-1] == 0.59


def test_missing_predictions_and_size_mismatch(voc_tree, tmp_path, capsys):
    ids = voc_tree.splits["train"]
    _write_constant(voc_tree, ids[:2], tmp_path, 0)
    assert _run(["--pred", str(tmp_path), "--voc-root", str(voc_tree.root), "--split", "train"]) == 2
    assert "1 of 3 predictions are missing" in capsys.readouterr().err
    h, w = voc_tree.sizes[ids[2]]
    write_label_png(tmp_path / f"{ids[2]}.png", np.zeros((h + 2, w), np.uint8))
    ds = open_dataset("voc", voc_tree.root, "train")
    with pytest.raises(DatasetError, match="original size"):
        evaluate.evaluate_folder(ds, tmp_path, convention="standard")
    # EPS crops the prediction to the GT size
    assert evaluate.evaluate_folder(ds, tmp_path, convention="eps").n_images == 3


def test_coco_eval_81_classes(coco_tree, tmp_path):
    ds = open_dataset("coco", coco_tree.root, "train")
    for image_id in ds.ids:
        write_label_png(tmp_path / f"{image_id}.png", coco_tree.masks[image_id])
    res = evaluate.evaluate_folder(ds, tmp_path, convention="eps")
    assert res.miou == 100.0 and len(res.iou) == 81 and res.classes[80] == "toothbrush"


def test_crop_val_view(voc_tree, tmp_path):
    # VainF --crop_val: shorter side to 8 (nearest for labels, longer side truncated), centre crop 8x8
    ds = open_dataset("voc", voc_tree.root, "val")
    for image_id in ds.ids:
        gt = voc_tree.masks[image_id]
        h, w = gt.shape
        new_h, new_w = (8, int(8 * w / h)) if h <= w else (int(8 * h / w), 8)
        resized = np.asarray(Image.fromarray(gt).resize((new_w, new_h), Image.NEAREST))
        top, left = int(round((new_h - 8) / 2)), int(round((new_w - 8) / 2))
        view = crop_val_label(gt, 8)
        np.testing.assert_array_equal(view, resized[top:top + 8, left:left + 8])
        write_label_png(tmp_path / f"{image_id}.png", view)
    assert evaluate.evaluate_folder(ds, tmp_path, convention="vainf", crop_val=8).miou == 100.0


def test_a_cam_file_that_would_run_code_is_refused(voc_tree, tmp_path):
    """``eval --pred`` over CAM .npy files used np.load(allow_pickle=True)."""
    from fixtures.hostile import malicious_npy

    marker = tmp_path / "marker"
    pred = tmp_path / "pred"
    pred.mkdir()
    for image_id in voc_tree.splits["train"]:
        malicious_npy(pred / f"{image_id}.npy", marker, "open")
    ds = open_dataset("voc", voc_tree.root, "train")
    with pytest.raises(DatasetError, match="was refused"):
        evaluate.evaluate_folder(ds, pred, convention="standard")
    assert _run(["--pred", str(pred), "--voc-root", str(voc_tree.root), "--split", "train"]) == 2
    assert not marker.exists()

"""``evaluate_folder(report=...)`` and ``wsss-zoo eval --report``: every number of the report against an
independent pixel count (tests/report/conftest.py), the gallery picks, comparison, errors and the write."""
import json
import os

import numpy as np
import pytest
from report_support import (cam_labels_by_pixel, cell, parse_report, reference_class_numbers, reference_counts,
                      reference_image_iou)

from wsss_zoo import evaluate
from wsss_zoo.cli import main
from wsss_zoo.data import open_dataset
from wsss_zoo.data.io import read_cam_npy, read_label_png, write_label_png
from wsss_zoo.errors import ConfigError

N = 21


def _pairs(voc_tree, folder, ids):
    return [(voc_tree.masks[i], read_label_png(folder / f"{i}.png")) for i in ids]


def _run(argv):
    """``wsss-zoo eval ARGV --no-progress`` in this process; returns its exit code."""
    return main(["eval"] + argv + ["--no-progress"])


def _mean(values, rule, gt_present=None):
    if rule == "plain":
        return sum(v or 0.0 for v in values) / len(values)
    keep = [v for c, v in enumerate(values) if v is not None and (gt_present is None or gt_present[c])]
    return sum(keep) / len(keep)


@pytest.mark.parametrize("convention", ["standard", "seam", "eps", "irn"])
def test_every_number_equals_an_independent_count(voc_tree, pred_dirs, tmp_path, convention):
    ds = open_dataset("voc", voc_tree.root, "trainval", gt="SegmentationClassAug")
    conv = evaluate.get_convention(convention)
    out = tmp_path / "r.html"
    result = evaluate.evaluate_folder(ds, pred_dirs["a"], convention=convention, report=out, report_images=2)
    pairs = _pairs(voc_tree, pred_dirs["a"], ds.ids)
    expected = reference_class_numbers(pairs, N, conv.pred_out_of_range)
    page = parse_report(out)
    assert [r[0] for r in page.table_rows] == list(range(N))
    for row, exp in zip(page.table_rows, expected):
        got = dict(zip(("iou", "precision", "recall", "gt_share", "pred_share"), map(cell, row[2:])))
        for key, value in exp.items():
            assert (got[key] is None) == (value is None), (row[0], key)
            if value is not None:
                assert got[key] == pytest.approx(value, abs=1e-5), (row[0], key)
    # the summary: mIoU with the convention's mean, pixel accuracy, mean precision and recall
    tp, gt, pred, missed, cells = reference_counts(pairs, N, conv.pred_out_of_range)
    ious = [e["iou"] for e in expected]
    miou = _mean(ious, conv.mean)
    assert float(page.metrics["miou"][0]) == pytest.approx(miou, abs=1e-3) == result.miou
    assert float(page.metrics["pixel_accuracy"][0]) == pytest.approx(100 * sum(tp.values()) / sum(gt.values()),
                                                                   abs=1e-3)
    assert float(page.metrics["mean_precision"][0]) == pytest.approx(
        _mean([e["precision"] for e in expected], "nanmean"), abs=1e-3)
    assert float(page.metrics["mean_recall"][0]) == pytest.approx(_mean([e["recall"] for e in expected], "nanmean"),
                                                                abs=1e-3)
    assert result.precision == [None if e["precision"] is None else pytest.approx(e["precision"], abs=1e-3)
                                for e in expected]
    # the confusion matrix payload: counts, an 'invalid' column only where misses are counted, rows normalised
    cm = page.scripts["cm-data-0"]
    counts = np.asarray(cm["counts"])
    assert counts[:, :N].tolist() == [[cells[(g, p)] for p in range(N)] for g in range(N)]
    if conv.pred_out_of_range == "miss":
        assert cm["cols"][-1].startswith("invalid") and counts[:, N].tolist() == [missed[g] for g in range(N)]
    else:
        assert len(cm["cols"]) == N
    norm = np.asarray(cm["norm"])
    present = counts.sum(axis=1) > 0
    np.testing.assert_allclose(norm[present].sum(axis=1), 1.0, atol=1e-4)
    # the protocol as the convention says it
    html = out.read_text()
    assert f"<b>{convention}</b>" in html and f"{len(ds.ids)} (voc trainval)" in html
    n_ignored = sum(int((voc_tree.masks[i] == 255).sum()) for i in ds.ids)
    assert f"are not counted: {n_ignored:,} px" in html


def test_existing_numbers_do_not_change_with_a_report(voc_tree, pred_dirs, tmp_path):
    ds = open_dataset("voc", voc_tree.root, "trainval")
    plain = evaluate.evaluate_folder(ds, pred_dirs["b"], convention="seam")
    with_report = evaluate.evaluate_folder(ds, pred_dirs["b"], convention="seam", report=tmp_path / "r.html")
    assert plain.to_json() == with_report.to_json()
    assert plain.table() == with_report.table()


def test_gallery_shows_the_worst_and_best_images(voc_tree, pred_dirs, tmp_path):
    ds = open_dataset("voc", voc_tree.root, "trainval")
    evaluate.evaluate_folder(ds, pred_dirs["b"], report=tmp_path / "r.html", report_images=1)
    by_iou = sorted(ds.ids, key=lambda i: reference_image_iou(voc_tree.masks[i],
                                                              read_label_png(pred_dirs["b"] / f"{i}.png"), N))
    page = parse_report(tmp_path / "r.html")
    overall = {c["data-id"]: [t for t in c["data-tags"].split() if t in ("worst", "best")] for c in page.cards
               if c["data-overall"] == "1"}
    assert overall == {by_iou[0]: ["worst"], by_iou[-1]: ["best"]}
    # per class, the image where it fares worst is there for the class filter
    person = [i for i in ds.ids if 15 in np.unique(voc_tree.masks[i])]
    assert person and any(c["data-id"] in person and "15" in c["data-classes"].split() for c in page.cards)
    # every card: image, GT, prediction, error map, all embedded
    for card in page.cards:
        assert len([im for im in page.images if im["alt"].endswith(" " + card["data-id"])]) == 4
    assert all(im["src"].startswith("data:image/") for im in page.images)


def test_cam_folder_report_at_the_best_threshold(voc_tree, pred_dirs, tmp_path):
    ds = open_dataset("voc", voc_tree.root, "train")
    res = evaluate.evaluate_folder(ds, pred_dirs["cam"], thresholds=[0.1, 0.3, 0.5, 0.7, 0.9], convention="irn",
                                   report=tmp_path / "r.html", report_images=1)
    pairs = []
    for i in ds.ids:
        ids, cams = read_cam_npy(pred_dirs["cam"] / f"{i}.npy")
        pairs.append((voc_tree.masks[i], cam_labels_by_pixel(cams, ids.tolist(), res.threshold)))
    expected = reference_class_numbers(pairs, N, "background")
    page = parse_report(tmp_path / "r.html")
    for row, exp in zip(page.table_rows, expected):
        assert (cell(row[2]) is None) == (exp["iou"] is None)
        if exp["iou"] is not None:
            assert cell(row[2]) == pytest.approx(exp["iou"], abs=1e-5)
    html = (tmp_path / "r.html").read_text()
    assert 'id="sweep"' in html and f"best {res.threshold:.2f}: {res.miou:.2f}" in html
    worst = min(range(len(pairs)), key=lambda k: reference_image_iou(*pairs[k], N))
    assert [c["data-id"] for c in page.cards if "worst" in c["data-tags"].split()] == [ds.ids[worst]]
    # a swept value that 6 decimals cannot hold still marks its point
    third = evaluate.evaluate_folder(ds, pred_dirs["cam"], thresholds=[1 / 3, 2 / 3], convention="irn",
                                     report=tmp_path / "third.html", report_images=0)
    assert f"best {third.threshold:.2f}: {third.miou:.2f}" in (tmp_path / "third.html").read_text()


def test_two_folders_give_a_comparison(voc_tree, pred_dirs, tmp_path, capsys):
    out, js = tmp_path / "cmp.html", tmp_path / "cmp.json"
    assert _run(["--pred", str(pred_dirs["a"]), "--pred", str(pred_dirs["b"]), "--voc-root", str(voc_tree.root),
                 "--split", "trainval", "--report", str(out), "--report-images", "1", "--name", "fp32",
                 "--name", "<b>bf16</b>", "--json", str(js)]) == 0
    printed = capsys.readouterr().out
    runs = json.loads(js.read_text())["runs"]
    assert len(runs) == 2 and f"mIoU difference (second - first): {runs[1]['miou'] - runs[0]['miou']:+.2f}" in printed
    ds = open_dataset("voc", voc_tree.root, "trainval")
    ref = [reference_class_numbers(_pairs(voc_tree, pred_dirs[k], ds.ids), N) for k in ("a", "b")]
    page = parse_report(out)
    for row in page.table_rows:
        a, b = ref[0][row[0]]["iou"], ref[1][row[0]]["iou"]   # cells: name, IoU 1, IoU 2, difference, ...
        if a is None or b is None:
            assert cell(row[4]) is None
        else:
            assert (cell(row[2]), cell(row[3]), cell(row[4])) == pytest.approx((a, b, b - a), abs=1e-5)
    diffs = {i: reference_image_iou(voc_tree.masks[i], read_label_png(pred_dirs["b"] / f"{i}.png"), N)
             - reference_image_iou(voc_tree.masks[i], read_label_png(pred_dirs["a"] / f"{i}.png"), N) for i in ds.ids}
    most = max(diffs, key=lambda i: abs(diffs[i]))
    assert [c["data-id"] for c in page.cards if c["data-overall"] == "1"] == [most]
    html = out.read_text()
    assert "&lt;b&gt;bf16&lt;/b&gt;" in html and "<b>bf16</b>" not in html  # a user's label is text, never markup
    assert "--name &#x27;&lt;b&gt;bf16&lt;/b&gt;&#x27;" in html  # the command line names both runs


def test_bad_report_options_are_one_line_errors(voc_tree, pred_dirs, tmp_path, capsys):
    common = ["--voc-root", str(voc_tree.root), "--split", "trainval", "--report", str(tmp_path / "r.html")]
    three = ["--pred", str(pred_dirs["a"])] * 3
    assert _run(three + common) == 2
    assert "give one folder, or two" in capsys.readouterr().err
    assert _run(["--pred", str(pred_dirs["a"]), "--name", "x", "--name", "y"] + common) == 2
    assert "2 run names (--name) for 1" in capsys.readouterr().err
    assert _run(["--pred", str(pred_dirs["a"]), "--report-images", "-1"] + common) == 2
    assert not (tmp_path / "r.html").exists()
    ds = open_dataset("voc", voc_tree.root, "val")
    with pytest.raises(ConfigError, match="compares two"):
        evaluate.evaluate_folders(ds, [pred_dirs["a"]] * 3, report=tmp_path / "r.html")


def test_report_replaces_a_link_instead_of_writing_through_it(voc_tree, pred_dirs, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "r.html"
    os.symlink(victim, link)
    ds = open_dataset("voc", voc_tree.root, "val")
    evaluate.evaluate_folder(ds, pred_dirs["a"], report=link, report_images=0)
    assert victim.read_text() == "keep me"
    assert not link.is_symlink() and link.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left behind


def test_coco_report_has_81_classes_and_eps_drops_invalid_predictions(coco_tree, tmp_path):
    ds = open_dataset("coco", coco_tree.root, "train")
    rng = np.random.default_rng(1)
    for image_id in ds.ids:
        pred = coco_tree.masks[image_id].copy()
        pred[rng.random(pred.shape) < 0.2] = 255          # out-of-range predictions: EPS does not count them
        write_label_png(tmp_path / "pred" / f"{image_id}.png", pred)
    res = evaluate.evaluate_folder(ds, tmp_path / "pred", convention="eps", report=tmp_path / "r.html",
                                   report_images=1)
    assert res.miou == 100.0
    page = parse_report(tmp_path / "r.html")
    assert len(page.table_rows) == 81 and len(page.scripts["cm-data-0"]["cols"]) == 81
    names = page.scripts["report-data"]["classes"]
    assert names[80] == "toothbrush" and f">{names[80]}</text>" in (tmp_path / "r.html").read_text()

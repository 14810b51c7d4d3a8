"""Helpers of the report tests: imperfect predictions, an independent pixel count and a small parser that
reads numbers back out of a report's HTML (fixtures: tests/report/conftest.py)."""
from __future__ import annotations

import json
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np


# --------------------------------------------------------------------------- independent counting
def reference_counts(pairs, n: int, out_of_range: str = "miss"):
    """Per-class TP, GT and predicted pixel counts, one pixel at a time (no numpy bincount), and the
    missed pixels per GT class; ``pairs`` = [(gt, pred)] arrays. Rules as foundations.md section 9."""
    tp, gt, pred, missed, cells = Counter(), Counter(), Counter(), Counter(), Counter()
    for g_arr, p_arr in pairs:
        for g, p in zip(g_arr.reshape(-1).tolist(), p_arr.reshape(-1).tolist()):
            if g >= n:
                continue
            if p >= n:
                if out_of_range == "drop":
                    continue
                if out_of_range == "miss":
                    gt[g] += 1
                    missed[g] += 1
                    continue
                p = 0
            gt[g] += 1
            pred[p] += 1
            cells[(g, p)] += 1
            if g == p:
                tp[g] += 1
    return tp, gt, pred, missed, cells


def reference_class_numbers(pairs, n: int, out_of_range: str = "miss"):
    """Per class (percent, None where undefined): iou, precision, recall, gt_share, pred_share."""
    tp, gt, pred, _, _ = reference_counts(pairs, n, out_of_range)
    total_gt, total_pred = sum(gt.values()), sum(pred.values())
    rows = []
    for c in range(n):
        union = gt[c] + pred[c] - tp[c]
        rows.append({"iou": 100 * tp[c] / union if union else None,
                     "precision": 100 * tp[c] / pred[c] if pred[c] else None,
                     "recall": 100 * tp[c] / gt[c] if gt[c] else None,
                     "gt_share": 100 * gt[c] / total_gt, "pred_share": 100 * pred[c] / total_pred})
    return rows


def reference_image_iou(gt: np.ndarray, pred: np.ndarray, n: int, out_of_range: str = "miss") -> float:
    """Mean IoU (percent) of one image over the classes in its GT or prediction."""
    tp, g, p, _, _ = reference_counts([(gt, pred)], n, out_of_range)
    classes = [c for c in range(n) if g[c] or p[c]]
    return 100 * sum(tp[c] / (g[c] + p[c] - tp[c]) for c in classes) / len(classes)


def cam_labels_by_pixel(cams: np.ndarray, ids, t: float) -> np.ndarray:
    """Background unless the top CAM score exceeds t (float32), else the first top class: a loop per pixel."""
    k, h, w = cams.shape
    out = np.zeros((h, w), np.uint8)
    for y in range(h):
        for x in range(w):
            scores = [float(cams[i, y, x]) for i in range(k)]
            top = max(scores)
            if top > float(np.float32(t)):
                out[y, x] = ids[scores.index(top)]
    return out


# --------------------------------------------------------------------------- reading a report back
class ReportParser(HTMLParser):
    """Collects the class table's cells (``data-v``), summary metrics, cards and JSON payloads."""

    def __init__(self):
        super().__init__()
        self.table_rows, self.metrics, self.cards, self.images, self.scripts = [], {}, [], [], {}
        self._in_table = self._row = self._metric = self._script = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id") == "class-table":
            self._in_table = True
        elif tag == "tr" and self._in_table and "data-class" in a:
            self._row = [int(a["data-class"])]
        elif tag == "td" and self._row is not None:
            self._row.append(a.get("data-v"))
        elif tag == "div" and "data-key" in a and "metric" in a.get("class", ""):
            self._metric = a["data-key"]
        elif tag == "div" and self._metric and a.get("class") == "v":
            self.metrics.setdefault(self._metric, []).append(a.get("data-v"))
            self._metric = None
        elif tag == "figure" and "card" in a.get("class", ""):
            self.cards.append(a)
        elif tag == "img":
            self.images.append(a)
        elif tag == "script" and a.get("type") == "application/json":
            self._script, self._text = a["id"], []

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            self.table_rows.append(self._row)
            self._row = None
        elif tag == "table":
            self._in_table = False
        elif tag == "script" and self._script:
            self.scripts[self._script] = json.loads("".join(self._text))
            self._script = None

    def handle_data(self, data):
        if self._script:
            self._text.append(data)


def parse_report(path) -> ReportParser:
    parser = ReportParser()
    parser.feed(Path(path).read_text(encoding="utf-8"))
    return parser


def cell(value):
    """A ``data-v`` attribute as a float (None for an undefined value)."""
    return None if value in (None, "") else float(value)

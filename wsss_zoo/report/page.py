"""Assemble the one-file HTML report from computed statistics and already loaded pictures.

:func:`render_report` is pure: :class:`RunReport` (one evaluated prediction folder: its JSON result,
confusion matrix and per-image statistics), :class:`GalleryItem` (pictures of the selected images)
and :class:`ReportContext` (dataset, convention, command, versions) in, one HTML string out. With
two runs the page compares them (per-class differences, the images where they differ most).
Pictures are ``data:`` URIs and a Content-Security-Policy forbids every network request, so the file
opens offline and shows the same thing everywhere.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape
from typing import Dict, List, Optional, Sequence

import numpy as np

from . import assets, charts, images
from .stats import ImageStats, class_rows, row_normalised

#: Longer side of the gallery pictures on the page (CSS pixels; small pictures are scaled up).
DISPLAY = 170

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'")

MEAN_TEXT = {
    "nanmean": "mean over the classes present in the ground truth or the prediction",
    "plain": "mean over all {n} classes (a class absent from both counts 0)",
    "present": "mean over the classes present in the ground truth",
}
OUT_OF_RANGE_TEXT = {
    "miss": "a predicted value outside 0..{last} (such as 255) counts as a miss of the pixel's GT class "
            "(an 'invalid' column of the confusion matrix when there are any)",
    "drop": "pixels whose predicted value is outside 0..{last} (such as 255) are not counted",
    "background": "a predicted value outside 0..{last} (such as 255) counts as background",
}
SIZE_TEXT = {
    "error": "predictions must have the ground truth's size",
    "crop": "predictions are cropped (or zero-padded) at the bottom-right to the ground truth's size",
}


@dataclass
class RunReport:
    """One evaluated prediction folder."""

    name: str
    result: dict                       # EvalResult.to_json()
    matrix: np.ndarray                 # n x n confusion at the reported threshold
    missed: Optional[np.ndarray]       # GT pixels per class whose prediction was an out-of-range miss
    images: List[ImageStats]           # in evaluation order
    ignored: int = 0                   # GT pixels not counted (255, out of range)
    invalid: int = 0                   # counted GT pixels whose prediction was out of range


@dataclass
class GalleryItem:
    """Pictures of one selected image (already scaled to thumbnails) and why it was selected."""

    id: str
    tags: List[str]
    image: np.ndarray                  # RGB
    gt: np.ndarray                     # label map
    preds: List[np.ndarray]            # one label map per run
    stats: List[ImageStats]            # one per run


@dataclass
class ReportContext:
    dataset: str
    split: str
    classes: Sequence[str]
    convention: Dict[str, str]         # name, mean, pred_out_of_range, size_mismatch, source
    gt_dir: str = ""
    command: str = ""
    versions: Dict[str, str] = field(default_factory=dict)
    created: str = ""


def _pct(value: Optional[float], digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def _frac(value: Optional[float]) -> Optional[float]:
    return None if value is None or np.isnan(value) else 100.0 * value


def _td(value: Optional[float], digits: int = 2, signed: bool = False) -> str:
    """A numeric cell: the shown text and the full value in ``data-v`` (for sorting and tests)."""
    if value is None:
        return '<td data-v="">-</td>'
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    cls = (' class="pos"' if value > 0 else ' class="neg"' if value < 0 else "") if signed else ""
    return f'<td data-v="{value:.6f}"{cls}>{text}</td>'


def _delta(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b is None else b - a


# --------------------------------------------------------------------------- sections
def _summary(ctx: ReportContext, runs: Sequence[RunReport]) -> str:
    keys = (("miou", "mIoU"), ("pixel_accuracy", "pixel accuracy"), ("mean_precision", "mean precision"),
            ("mean_recall", "mean recall"))
    blocks = []
    for i, run in enumerate(runs):
        cards = []
        for key, label in keys:
            value = run.result.get(key)
            delta = ""
            if i == 1:
                d = _delta(runs[0].result.get(key), value)
                if d is not None:
                    delta = f'<div class="d {"pos" if d > 0 else "neg" if d < 0 else ""}">{d:+.2f} vs first</div>'
            cards.append(f'<div class="metric" data-key="{key}"><div class="k">{label}</div>'
                         f'<div class="v" data-v="{"" if value is None else value}">{_pct(value)}</div>{delta}</div>')
        head = (f'<h3><span class="swatch" style="background:{charts.RUN_COLOURS[i % 2]}"></span>'
                f'{escape(run.name)}</h3>') if len(runs) > 1 else ""
        blocks.append(f'<div class="run" data-run="{i}">{head}<div class="cards">{"".join(cards)}</div></div>')
    conv = ctx.convention
    n = len(ctx.classes)
    first = runs[0].result
    rows = [("images", f"{first.get('n_images')} ({escape(ctx.dataset)} {escape(ctx.split)})"),
            ("convention", f"<b>{escape(conv.get('name', ''))}</b>: {escape(conv.get('source', ''))}"),
            ("mean", escape(MEAN_TEXT.get(conv.get("mean", ""), conv.get("mean", "")).format(n=n))),
            ("ignored ground truth", f"GT pixels labelled 255 (or outside 0..{n - 1}) are not counted: "
                                     f"{runs[0].ignored:,} px"),
            ("out-of-range predictions", escape(OUT_OF_RANGE_TEXT.get(conv.get("pred_out_of_range", ""), "")
                                                .format(last=n - 1)) + "; here: "
             + ", ".join(f"{r.invalid:,} px" + (f" ({escape(r.name)})" if len(runs) > 1 else "") for r in runs)),
            ("size mismatch", escape(SIZE_TEXT.get(conv.get("size_mismatch", ""), "")))]
    if conv.get("view"):
        rows.append(("ground truth view", escape(conv["view"])))
    rows.append(("ground truth", f"<code>{escape(ctx.gt_dir)}</code>"))
    for i, run in enumerate(runs):
        r = run.result
        label = "predictions" + (f" ({escape(run.name)})" if len(runs) > 1 else "")
        text = f"<code>{escape(str(r.get('pred_dir', '')))}</code> ({escape(str(r.get('kind', '')))})"
        if r.get("threshold") is not None:
            sweep = r.get("sweep") or {}
            ts = sweep.get("thresholds") or []
            text += f"; CAM background threshold {r['threshold']:.2f}"
            if len(ts) > 1:
                text += f", the best of {len(ts)} swept from {ts[0]:.2f} to {ts[-1]:.2f}"
        rows.append((label, text))
    rows.append(("command", f"<code>{escape(ctx.command)}</code>"))
    rows.append(("versions", escape(", ".join(f"{k} {v}" for k, v in ctx.versions.items()))))
    if ctx.created:
        rows.append(("written", escape(ctx.created)))
    warnings = dict.fromkeys(w for run in runs for w in run.result.get("warnings", []))
    kv = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    warn = "".join(f'<p class="warn">warning: {escape(w)}</p>' for w in warnings)
    return (f'<section id="summary"><h2>Summary</h2><div class="two">{"".join(blocks)}</div>{warn}'
            f'<table class="kv" id="protocol" style="margin-top:14px">{kv}</table>'
            '<p class="note">Precision = TP / predicted pixels, recall = TP / GT pixels, per class; their means '
            'are over the classes where they are defined (predicted, resp. present in the GT). mIoU alone hides '
            'whether a method over- or under-segments: low precision with high recall is over-segmentation.</p>'
            '</section>')


def _class_table(ctx: ReportContext, runs: Sequence[RunReport]) -> str:
    tables = [class_rows(r.matrix, r.missed, ctx.classes) for r in runs]
    head = ['<th data-key="class" data-type="text">class</th>']
    if len(runs) == 1:
        head += [f'<th data-key="{k}">{t}</th>' for k, t in (("iou", "IoU"), ("precision", "precision"),
                                                              ("recall", "recall"), ("gt_share", "GT share"),
                                                              ("pred_share", "predicted share"))]
    else:
        a, b = (escape(r.name) for r in runs)
        head += [f'<th data-key="iou_a">IoU {a}</th>', f'<th data-key="iou_b">IoU {b}</th>',
                 '<th data-key="delta">&Delta; IoU</th>', f'<th data-key="precision_a">precision {a}</th>',
                 f'<th data-key="precision_b">precision {b}</th>', f'<th data-key="recall_a">recall {a}</th>',
                 f'<th data-key="recall_b">recall {b}</th>', '<th data-key="gt_share">GT share</th>']
    body = []
    for c, name in enumerate(ctx.classes):
        rs = [t[c] for t in tables]
        cells = [f"<td>{escape(name)}</td>"]
        if len(runs) == 1:
            r = rs[0]
            cells += [_td(_frac(r[k])) for k in ("iou", "precision", "recall", "gt_share", "pred_share")]
        else:
            a, b = rs
            cells += [_td(_frac(a["iou"])), _td(_frac(b["iou"])),
                      _td(_delta(_frac(a["iou"]), _frac(b["iou"])), signed=True),
                      _td(_frac(a["precision"])), _td(_frac(b["precision"])), _td(_frac(a["recall"])),
                      _td(_frac(b["recall"])), _td(_frac(a["gt_share"]))]
        body.append(f'<tr data-class="{c}">{"".join(cells)}</tr>')
    table = (f'<table class="sortable" id="class-table"><thead><tr>{"".join(head)}</tr></thead>'
             f'<tbody>{"".join(body)}</tbody></table>')
    names = list(ctx.classes)
    if len(runs) == 1:
        chart = charts.bar_chart(names, [(runs[0].name, [_frac(r["iou"]) for r in tables[0]])])
    else:
        chart = (charts.bar_chart(names, [(run.name, [_frac(r["iou"]) for r in t]) for run, t in zip(runs, tables)])
                 + charts.delta_chart(names, [_delta(_frac(a["iou"]), _frac(b["iou"]))
                                              for a, b in zip(*tables)]))
    legend = f'<p class="note">{charts.legend([r.name for r in runs])}</p>' if len(runs) > 1 else ""
    return (f'<section id="classes"><h2>Per class</h2>{legend}<p class="note">Values in %. GT share / predicted '
            f'share: the class\'s fraction of all counted GT / predicted pixels. Click a header to sort.</p>'
            f'<div class="two"><div>{table}</div><div>{chart}</div></div></section>')


def _confusion(ctx: ReportContext, runs: Sequence[RunReport]) -> str:
    blocks, data = [], []
    n = len(ctx.classes)
    for i, run in enumerate(runs):
        missed = run.missed if run.missed is not None and run.missed.any() else None
        norm = row_normalised(run.matrix, missed)
        counts = run.matrix if missed is None else np.concatenate([run.matrix, missed[:, None]], axis=1)
        cols = list(ctx.classes) + (["invalid (miss)"] if missed is not None else [])
        cell = images.heat_cell(n, len(cols))
        w, h = cell * len(cols), cell * n
        label_w, label_h = 112, 96
        row_svg = "".join(f'<text x="{label_w - 4}" y="{(r + 0.5) * cell:.1f}" text-anchor="end" '
                          f'dominant-baseline="middle">{escape(name)}</text>'
                          for r, name in enumerate(ctx.classes))
        col_svg = "".join(f'<text transform="translate({(c + 0.5) * cell + 3:.1f},{label_h - 4}) rotate(-60)">'
                          f'{escape(name)}</text>' for c, name in enumerate(cols))
        uri = images.data_uri(images.heat_map(norm, cell))
        title = f"<h3>{escape(run.name)}</h3>" if len(runs) > 1 else ""
        font = f' style="font-size:{min(10, cell)}px"' if cell < 11 else ""
        blocks.append(
            f'<div class="cm">{title}<div class="cm-grid" style="grid-template-columns:{label_w}px {w}px">'
            f'<div></div><svg width="{w}" height="{label_h}"{font}>{col_svg}</svg>'
            f'<svg width="{label_w}" height="{h}"{font}>{row_svg}</svg>'
            f'<img class="cm-img" alt="confusion matrix {escape(run.name)}" src="{uri}" width="{w}" height="{h}" '
            f'data-cell="{cell}" data-src="cm-data-{i}"></div></div>')
        payload = {"rows": list(ctx.classes), "cols": cols, "norm": np.round(norm, 5).tolist(),
                   "counts": counts.astype(np.int64).tolist()}
        data.append(f'<script type="application/json" id="cm-data-{i}">{_json(payload)}</script>')
    return ('<section id="confusion"><h2>Confusion matrix</h2><p class="note">Rows: ground truth, columns: '
            'prediction; each row divided by its GT pixel count (white 0 %, dark blue 100 %). Pixels the '
            'convention ignores are not in it (see the summary). Hover a cell for its value.</p>'
            f'<div class="two">{"".join(blocks)}</div>{"".join(data)}<div id="cm-tip"></div></section>')


def _sweep(runs: Sequence[RunReport]) -> str:
    curves = []
    for run in runs:
        sweep = run.result.get("sweep") or {}
        ts, ms = sweep.get("thresholds") or [], sweep.get("miou") or []
        best = run.result.get("threshold")
        if len(ts) > 1 and best is not None:  # the JSON rounds the swept values to 6 decimals
            curves.append((run.name, ts, ms, min(range(len(ts)), key=lambda i: abs(ts[i] - best))))
    if not curves:
        return ""
    legend = f'<p class="note">{charts.legend([c[0] for c in curves])}</p>' if len(curves) > 1 else ""
    return (f'<section id="sweep"><h2>Background threshold sweep</h2>{legend}{charts.sweep_chart(curves)}'
            '<p class="note">mIoU of the CAMs at each swept background threshold; the marked point is the best '
            'one, which the summary reports (as SEAM <code>--curve</code> and RIB <code>eval_cam</code> '
            'do: the threshold is chosen on the evaluated set itself).</p></section>')


def _class_score(stats: Sequence[ImageStats], compare: bool) -> str:
    """``c:score`` pairs ordering the cards of a class filter: IoU ascending, or -|difference| ascending."""
    if not compare:
        s = stats[0]
        return " ".join(f"{c}:{v:.5f}" for c, v in zip(s.classes.tolist(), s.class_iou.tolist()))
    a, b = stats
    classes = sorted(set(a.classes.tolist()) | set(b.classes.tolist()))
    return " ".join(f"{c}:{-abs(np.nan_to_num(b.iou_of(c)) - np.nan_to_num(a.iou_of(c))):.5f}" for c in classes)


def _caption(item: GalleryItem, ctx: ReportContext, names: Sequence[str], most: int = 6) -> str:
    """Badges, id, image IoU per run and the classes involved: those of the GT, then the predicted-only
    ones with the most pixels (at most ``most`` of those named)."""
    badges = "".join(f'<span class="badge {t}">{t}</span>' for t in dict.fromkeys(
        t for t in item.tags if not t.startswith("class:")))
    ious = " / ".join(f"IoU{(' ' + escape(n)) if len(names) > 1 else ''} {_pct(100 * s.miou, 1)}"
                      for n, s in zip(names, item.stats))
    gt_classes = sorted(set().union(*(s.gt_classes for s in item.stats)))
    pred_pixels: Dict[int, int] = {}
    for s in item.stats:
        for c, count in zip(s.classes.tolist(), s.pred.tolist()):
            if c not in gt_classes and count:
                pred_pixels[c] = pred_pixels.get(c, 0) + count
    pred_only = sorted(pred_pixels, key=lambda c: (-pred_pixels[c], c))

    def part(c: int, where: str) -> str:
        name = ctx.classes[c] if c < len(ctx.classes) else str(c)
        values = "/".join(_pct(100 * s.iou_of(c), 0) for s in item.stats)
        return f"{escape(name)} ({where}, {values})"

    parts = [part(c, "GT") for c in gt_classes] + [part(c, "predicted only") for c in pred_only[:most]]
    if len(pred_only) > most:
        parts.append(f"+{len(pred_only) - most} more predicted only")
    return (f'<figcaption>{badges}<b>{escape(item.id)}</b> &middot; {ious}<br>classes (IoU %): '
            f'{", ".join(parts)}</figcaption>')


def _gallery(ctx: ReportContext, runs: Sequence[RunReport], items: Sequence[GalleryItem], k: int) -> str:
    if not items:
        return ""
    compare = len(runs) > 1
    names = [r.name for r in runs]
    n = len(ctx.classes)
    cards = []
    for item in items:
        panels = [("image", images.data_uri(item.image, "JPEG"), ""),
                  ("ground truth", images.label_uri(item.gt), "lab")]
        for name, pred in zip(names, item.preds):
            panels.append((f"prediction {name}" if compare else "prediction", images.label_uri(pred), "lab"))
        if not compare:
            drop = ctx.convention.get("pred_out_of_range") == "drop"
            panels.append(("errors", images.data_uri(images.error_map(item.image, item.gt, item.preds[0], n,
                                                                      drop_invalid=drop), "JPEG"), ""))
        scale = DISPLAY / max(item.gt.shape)
        h, w = round(item.gt.shape[0] * scale), round(item.gt.shape[1] * scale)
        panel_html = "".join(f'<div><img class="{cls}" src="{uri}" width="{w}" height="{h}" '
                             f'alt="{escape(label)} {escape(item.id)}">{escape(label)}</div>'
                             for label, uri, cls in panels)
        classes = sorted(set().union(*(set(s.classes.tolist()) for s in item.stats)))
        if compare:
            order = -abs(item.stats[1].miou - item.stats[0].miou)
        else:
            order = item.stats[0].miou if "worst" in item.tags else 2.0 - item.stats[0].miou
        overall = any(t in ("worst", "best", "differ") for t in item.tags)
        cards.append(f'<figure class="card" data-id="{escape(item.id)}" data-classes="{" ".join(map(str, classes))}" '
                     f'data-class-score="{_class_score(item.stats, compare)}" data-order="{order:.6f}" '
                     f'data-overall="{int(overall)}" data-tags="{escape(" ".join(item.tags))}">'
                     f'<div class="panels">{panel_html}</div>{_caption(item, ctx, names)}</figure>')
    present = sorted({c for item in items for s in item.stats for c in s.classes.tolist()})
    options = "".join(f'<option value="{c}" data-name="{escape(ctx.classes[c])}">{escape(ctx.classes[c])}</option>'
                      for c in present if c < n)
    what = (f"the {k} images whose IoU differs most between the runs" if compare
            else f"the {k} worst and {k} best images by IoU")
    return (f'<section id="gallery"><h2>Images</h2><p class="note">Shown: {what}; pick a class to see the images '
            'where that class fares worst' + (" / differs most" if compare else "") + '. Image IoU: mean over the '
            'classes in its GT or prediction; errors: counted GT pixels predicted wrong, in red.</p>'
            '<div class="filter"><label>class <select id="class-filter"><option value="">all classes (overall '
            f'selection)</option>{options}</select></label> <span id="gallery-count"></span></div>'
            f'<div class="gallery">{"".join(cards)}</div></section>')


def _json(payload) -> str:
    """JSON safe inside a ``<script>`` element."""
    return json.dumps(payload, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e")


def render_report(ctx: ReportContext, runs: Sequence[RunReport], gallery: Sequence[GalleryItem] = (), *,
                  k: int = 8) -> str:
    """The complete HTML document (one run: its report; two runs: their comparison)."""
    if not 1 <= len(runs) <= 2:
        raise ValueError("a report shows one run, or compares two")
    title = (f"{' vs '.join(r.name for r in runs)}: " if len(runs) > 1 else f"{runs[0].name}: ") + \
        f"{ctx.dataset} {ctx.split}, mIoU " + " / ".join(_pct(r.result.get("miou")) for r in runs)
    data = {"runs": [dict(r.result, name=r.name) for r in runs], "classes": list(ctx.classes),
            "convention": ctx.convention, "command": ctx.command, "versions": ctx.versions}
    body = (_summary(ctx, runs) + _class_table(ctx, runs) + _confusion(ctx, runs) + _sweep(runs)
            + _gallery(ctx, runs, gallery, k))
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
            f"<script>{assets.ERROR_HOOK}</script><style>{assets.CSS}</style></head><body>"
            f"<header><h1>Evaluation report &middot; {escape(title)}</h1><p>wsss_zoo evaluation of "
            f"{escape(' and '.join(r.name for r in runs))} against {escape(ctx.dataset)} {escape(ctx.split)} "
            f"ground truth, convention {escape(ctx.convention.get('name', ''))}</p></header><main>{body}</main>"
            f'<footer>Made by wsss_zoo. Self-contained: pictures are embedded, nothing is fetched.</footer>'
            f'<script type="application/json" id="report-data">{_json(data)}</script>'
            f"<script>{assets.JS}</script></body></html>\n")

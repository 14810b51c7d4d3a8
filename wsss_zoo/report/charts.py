"""Inline SVG charts of the report: per-class bars, per-class differences, the threshold-sweep curve.

Pure functions from numbers to an ``<svg>`` string (no scripts, no external resources). Values are
percentages; ``None`` (class absent) draws no bar and prints "-".
"""
from __future__ import annotations

from html import escape
from typing import List, Optional, Sequence, Tuple

#: Colours of the first and the second run.
RUN_COLOURS = ("#3b6fb6", "#e08a1e")
_POS, _NEG = "#2e8b57", "#c8324b"

_ROW = 16
_LABEL_W = 118
_VALUE_W = 52


def _fmt(value: Optional[float], signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def bar_chart(labels: Sequence[str], series: Sequence[Tuple[str, Sequence[Optional[float]]]], *,
              width: int = 560, title: str = "IoU per class (%)") -> str:
    """Horizontal bars 0..100, one group per label and one bar per series (run)."""
    k = len(series)
    group = _ROW * k + 6
    plot_w = width - _LABEL_W - _VALUE_W * k
    top = 22
    height = top + group * len(labels) + 20
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f'<text x="0" y="14" class="ct">{escape(title)}</text>']
    for g in (0, 25, 50, 75, 100):
        x = _LABEL_W + plot_w * g / 100
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 18}" class="grid"/>'
                   f'<text x="{x:.1f}" y="{height - 4}" class="tick" text-anchor="middle">{g}</text>')
    for i, label in enumerate(labels):
        y0 = top + i * group + 3
        out.append(f'<text x="{_LABEL_W - 6}" y="{y0 + group / 2 + 1:.1f}" class="lbl" text-anchor="end" '
                   f'dominant-baseline="middle">{escape(label)}</text>')
        for s, (name, values) in enumerate(series):
            v = values[i]
            y = y0 + s * _ROW
            if v is not None:
                w = max(0.0, min(100.0, v)) * plot_w / 100
                out.append(f'<rect x="{_LABEL_W}" y="{y}" width="{w:.1f}" height="{_ROW - 3}" '
                           f'fill="{RUN_COLOURS[s % 2]}"><title>{escape(label)} {escape(name)}: '
                           f'{_fmt(v)}</title></rect>')
            out.append(f'<text x="{width - _VALUE_W * (k - s) + 4}" y="{y + _ROW / 2:.1f}" class="val" '
                       f'dominant-baseline="middle" fill="{RUN_COLOURS[s % 2]}">{_fmt(v)}</text>')
    out.append("</svg>")
    return "".join(out)


def delta_chart(labels: Sequence[str], deltas: Sequence[Optional[float]], *, width: int = 560,
                title: str = "IoU difference per class (second - first, points)") -> str:
    """Diverging horizontal bars around 0 (green: the second run is better)."""
    present = [abs(d) for d in deltas if d is not None]
    span = max([1.0] + present)
    plot_w = width - _LABEL_W - _VALUE_W
    mid = _LABEL_W + plot_w / 2
    top = 22
    height = top + _ROW * len(labels) + 20
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f'<text x="0" y="14" class="ct">{escape(title)}</text>',
           f'<line x1="{mid:.1f}" y1="{top}" x2="{mid:.1f}" y2="{height - 18}" class="axis"/>',
           f'<text x="{_LABEL_W}" y="{height - 4}" class="tick">-{span:.1f}</text>',
           f'<text x="{_LABEL_W + plot_w}" y="{height - 4}" class="tick" text-anchor="end">+{span:.1f}</text>']
    for i, (label, d) in enumerate(zip(labels, deltas)):
        y = top + i * _ROW + 2
        out.append(f'<text x="{_LABEL_W - 6}" y="{y + _ROW / 2 - 1:.1f}" class="lbl" text-anchor="end" '
                   f'dominant-baseline="middle">{escape(label)}</text>')
        if d is not None:
            w = abs(d) / span * plot_w / 2
            x = mid if d >= 0 else mid - w
            out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{_ROW - 4}" '
                       f'fill="{_POS if d >= 0 else _NEG}"><title>{escape(label)}: {_fmt(d, True)}</title></rect>')
        out.append(f'<text x="{width - _VALUE_W + 4}" y="{y + _ROW / 2 - 1:.1f}" class="val" '
                   f'dominant-baseline="middle">{_fmt(d, True)}</text>')
    out.append("</svg>")
    return "".join(out)


def sweep_chart(curves: Sequence[Tuple[str, Sequence[float], Sequence[Optional[float]], int]], *,
                width: int = 560, height: int = 300,
                title: str = "mIoU (%) against the CAM background threshold") -> str:
    """One line per run (name, thresholds, mIoU values, best index), the best point marked and labelled."""
    left, right, top, bottom = 44, 16, 34, 36
    xs = [t for _, ts, _, _ in curves for t in ts]
    ys = [v for _, _, vs, _ in curves for v in vs if v is not None]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x1 <= x0:
        x0, x1 = x0 - 0.05, x1 + 0.05
    y0 = max(0.0, (min(ys) if ys else 0.0) - 2)
    y1 = min(100.0, (max(ys) if ys else 100.0) + 2)
    if y1 <= y0:
        y0, y1 = y0 - 1, y1 + 1
    pw, ph = width - left - right, height - top - bottom

    def px(t: float) -> float:
        return left + (t - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        return top + (1 - (v - y0) / (y1 - y0)) * ph

    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f'<text x="0" y="14" class="ct">{escape(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>']
    swept = sorted(set(xs))
    x_ticks = [swept[round(i * (len(swept) - 1) / 4)] for i in range(5)] if len(swept) >= 5 else swept
    for t in dict.fromkeys(x_ticks):   # ticks at swept thresholds
        out.append(f'<text x="{px(t):.1f}" y="{height - bottom + 14}" class="tick" text-anchor="middle">{t:.2f}'
                   '</text>')
    for i in range(5):
        v = y0 + (y1 - y0) * i / 4
        out.append(f'<text x="{left - 4}" y="{py(v) + 3:.1f}" class="tick" text-anchor="end">{v:.1f}</text>'
                   f'<line x1="{left}" y1="{py(v):.1f}" x2="{left + pw}" y2="{py(v):.1f}" class="grid"/>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 4}" class="tick" text-anchor="middle">background threshold'
               f'</text>')
    for s, (name, ts, vs, best) in enumerate(curves):
        colour = RUN_COLOURS[s % 2]
        points = " ".join(f"{px(t):.1f},{py(v):.1f}" for t, v in zip(ts, vs) if v is not None)
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if 0 <= best < len(ts) and vs[best] is not None:
            bx, by = px(ts[best]), py(vs[best])
            out.append(f'<circle cx="{bx:.1f}" cy="{by:.1f}" r="5" fill="{colour}" class="best">'
                       f'<title>{escape(name)}: best threshold {ts[best]:.2f}, mIoU {vs[best]:.2f}</title></circle>'
                       f'<text x="{min(max(bx, left + 50), left + pw - 50):.1f}" '
                       f'y="{by + 18 + 12 * s if by < top + 30 else by - 9 - 12 * s:.1f}" class="val" '
                       f'text-anchor="middle" fill="{colour}">best {ts[best]:.2f}: {vs[best]:.2f}</text>')
    out.append("</svg>")
    return "".join(out)


def legend(names: List[str]) -> str:
    """Colour swatches naming the runs (HTML)."""
    return " ".join(f'<span class="swatch" style="background:{RUN_COLOURS[i % 2]}"></span>{escape(n)}'
                    for i, n in enumerate(names))

"""Pictures of CAMs and label maps: heat-map overlays, labelled palette overlays, compare grids.

Everything returns HxWx3 uint8 RGB arrays drawn with PIL (matplotlib only lends its colour maps)
and PIL's bundled scalable font, sized from the picture so that text stays legible when the PNG
is printed at column width. Output sizes follow fixed rules:

* :func:`overlay_cam` and :func:`paint_mask` -- exactly the image's size;
* :func:`overlay_mask` -- the painted image, pixel for pixel, with a legend strip to its right:
  ``(H, W + strip width)``; the strip lies outside the image, so nothing of the image is hidden
  (``legend=False``: the image's size; a picture shorter than its legend's text grows white below);
* :func:`cam_figure` -- K panels of the image's size side by side under a title strip, plus a colour
  bar: ``(H + TITLE_HEIGHT, K * W + (K - 1) * GAP + COLORBAR_WIDTH)``;
* :func:`compare_grid` -- see :func:`grid_layout`.

Label maps use the PASCAL VOC colour map for VOC and COCO alike (COCO masks reuse it for ids 0..80,
as EPS's COCO pseudo labels do). Classes whose palette colours are near-identical (the VOC greens
bicycle, cow, sofa and train; bus and motorbike; ...) get hatch patterns, in the picture and in its
legend (:mod:`wsss_zoo.viz_layout` has the rule); 255 (ignore) is shown as the image washed out to
light grey, without boundaries.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .classes import CLASS_LISTS, pascal_palette
from .errors import ConfigError
from .fileio import atomic_save_image
from .viz_layout import HATCHES, hatch_styles, label_anchors

TITLE_HEIGHT = 22
GAP = 6
COLORBAR_WIDTH = 46
IGNORE = 255
_TEXT = (24, 24, 24)
_MUTED = (105, 105, 105)
_FAINT = (150, 150, 150)
_WARN = (185, 25, 25)
_BACKDROP = (255, 255, 255)
_IGNORE_GREY = (205, 205, 205)
_HATCH_ALPHA = 0.6  # hatch lines: white blended over the painted class colour


# --------------------------------------------------------------------------- basics
@functools.lru_cache(maxsize=16)
def font(size: int) -> ImageFont.ImageFont:
    """PIL's bundled scalable font at ``size`` pixels (no system fonts needed)."""
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=1)
def _palette() -> np.ndarray:
    return pascal_palette(256)


def class_name(label: int, dataset: str) -> str:
    """Display name of a segmentation id (``ignore`` for 255)."""
    if label == IGNORE:
        return "ignore"
    names = CLASS_LISTS.get(dataset, ())
    return names[label] if 0 <= label < len(names) else f"class {label}"


def colorize(mask: np.ndarray) -> np.ndarray:
    """Label map [H, W] -> RGB [H, W, 3] in the VOC palette (255 is the void colour)."""
    return _palette()[np.asarray(mask, dtype=np.uint8)]


def save_png(picture, path) -> str:
    """Write an RGB array or PIL image as PNG, creating parent folders; atomically, replacing (never
    following) a symbolic link at ``path`` (:func:`wsss_zoo.fileio.atomic_save_image`)."""
    path = os.fspath(path)
    img = picture if isinstance(picture, Image.Image) else Image.fromarray(np.asarray(picture, dtype=np.uint8))
    atomic_save_image(img, path, "PNG")
    return path


def _blend(base: np.ndarray, top: np.ndarray, alpha, where: Optional[np.ndarray] = None) -> np.ndarray:
    out = base.astype(np.float32) * (1 - alpha) + top.astype(np.float32) * alpha
    if where is not None:
        out = np.where(where[..., None], out, base.astype(np.float32))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _fit_text(draw: ImageDraw.ImageDraw, text: str, width: int, fnt) -> str:
    """Shorten ``text`` with an ellipsis until it fits ``width`` pixels."""
    if draw.textlength(text, font=fnt) <= width:
        return text
    while text and draw.textlength(text + "…", font=fnt) > width:
        text = text[:-1]
    return text + "…" if text else ""



def _wrap(draw: ImageDraw.ImageDraw, text: str, width: int, fnt) -> List[str]:
    """Greedy word wrap of ``text`` to lines of at most ``width`` pixels (a too-long word is shortened)."""
    lines: List[str] = []
    for word in text.split():
        if lines and draw.textlength(lines[-1] + " " + word, font=fnt) <= width:
            lines[-1] += " " + word
        else:
            lines.append(_fit_text(draw, word, width, fnt))
    return lines


def _shrink_to_fit(draw: ImageDraw.ImageDraw, text: str, width: int, size: int, smallest: float = 0.6):
    """The largest font from ``size`` down to ``smallest * size`` that fits ``text`` in ``width``, and the
    text (with an ellipsis when even that does not fit)."""
    for s in range(size, max(1, int(size * smallest)) - 1, -1):
        if draw.textlength(text, font=font(s)) <= width:
            return text, font(s)
    fnt = font(max(1, int(size * smallest)))
    return _fit_text(draw, text, width, fnt), fnt


def text_size(height: int, width: int) -> int:
    """Font size (pixels) for text drawn next to a ``height x width`` picture: 1/28 of its longer side,
    11 to 48 px (18 px for a 500x375 VOC image: about 7 pt when the overlay is printed 3.3 inches wide)."""
    return int(np.clip(round(max(height, width) / 28), 11, 48))


# --------------------------------------------------------------------------- heat maps
def colormap(name: str = "jet") -> np.ndarray:
    """A 256x3 uint8 lookup table of a matplotlib colour map ('jet' is the WSSS papers' usual one)."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ConfigError(f"unknown colour map {name!r}; try jet, turbo, viridis, inferno or magma") from None
    return np.rint(cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)


def normalize_map(cam: np.ndarray) -> np.ndarray:
    """Clip a CAM to [0, 1]; a map whose maximum exceeds 1 (un-normalised scores) is divided by it first."""
    cam = np.nan_to_num(np.asarray(cam, dtype=np.float32))
    peak = float(cam.max()) if cam.size else 0.0
    if peak > 1.0 + 1e-3:
        cam = cam / peak
    return np.clip(cam, 0.0, 1.0)


def heatmap(cam: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """CAM [H, W] -> RGB [H, W, 3] through a colour map."""
    return colormap(cmap)[np.rint(normalize_map(cam) * 255).astype(np.uint8)]


def overlay_cam(image: np.ndarray, cam: np.ndarray, *, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """The image with a CAM's heat map blended over it; same size as the image."""
    image = np.asarray(image, dtype=np.uint8)
    if cam.shape != image.shape[:2]:
        raise ConfigError(f"CAM is {cam.shape} but the image is {image.shape[:2]}")
    return _blend(image, heatmap(cam, cmap), alpha)


def colorbar(height: int, cmap: str = "jet", width: int = COLORBAR_WIDTH) -> np.ndarray:
    """A vertical colour bar (1 at the top, 0 at the bottom) with tick labels, ``height x width``."""
    panel = Image.new("RGB", (width, height), _BACKDROP)
    bar_w, top, bottom = 12, 6, max(7, height - 6)
    ramp = colormap(cmap)[np.linspace(255, 0, max(1, bottom - top)).astype(np.uint8)]
    panel.paste(Image.fromarray(np.repeat(ramp[:, None, :], bar_w, axis=1)), (4, top))
    draw = ImageDraw.Draw(panel)
    fnt = font(10)
    for value in (1.0, 0.5, 0.0):
        y = top + (1.0 - value) * (bottom - top - 1)
        draw.line([(4 + bar_w, y), (4 + bar_w + 3, y)], fill=_TEXT)
        draw.text((4 + bar_w + 5, y), f"{value:.1f}", fill=_TEXT, font=fnt, anchor="lm")
    return np.asarray(panel)


# --------------------------------------------------------------------------- label maps
def present_labels(mask: np.ndarray) -> List[int]:
    """Labels in a map, background excluded, ignore (255) last."""
    values = [int(v) for v in np.unique(mask) if v != 0]
    return sorted(values, key=lambda v: (v == IGNORE, v))


def _boundaries(mask: np.ndarray) -> np.ndarray:
    """Pixels where the label changes to its left or above, ignore regions left out (they get no outline)."""
    edge = np.zeros(mask.shape, dtype=bool)
    edge[:, 1:] |= (mask[:, 1:] != mask[:, :-1]) & (mask[:, 1:] != IGNORE) & (mask[:, :-1] != IGNORE)
    edge[1:, :] |= (mask[1:, :] != mask[:-1, :]) & (mask[1:, :] != IGNORE) & (mask[:-1, :] != IGNORE)
    return edge


def hatch_spacing(height: int, width: int) -> int:
    """Distance in pixels between hatch lines in a ``height x width`` picture (1/45 of the shorter side, >= 5)."""
    return max(5, round(min(height, width) / 45))


def hatch_pattern(style: int, shape: Tuple[int, int], spacing: int) -> np.ndarray:
    """Boolean map of hatch pattern ``style`` (an index into :data:`~wsss_zoo.viz_layout.HATCHES`)."""
    yy, xx = np.ogrid[:shape[0], :shape[1]]
    thick = max(1, spacing // 4)
    name = HATCHES[style % len(HATCHES)]
    diagonal = (xx + yy) % spacing <= thick
    anti = (xx - yy) % spacing <= thick
    lines = {"plain": np.zeros(shape, bool), "diagonal": diagonal, "antidiagonal": anti,
             "horizontal": np.broadcast_to(yy % spacing < thick, shape),
             "vertical": np.broadcast_to(xx % spacing < thick, shape), "cross": diagonal | anti}
    return np.asarray(lines[name])


def _wash(image: np.ndarray) -> np.ndarray:
    """The image as a light, low-contrast grey (how ignore pixels are shown)."""
    grey = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.repeat(np.rint(grey * 0.3 + 0.7 * 225)[..., None], 3, axis=-1).astype(np.uint8)


def label_styles(labels: Sequence[int]) -> Dict[int, int]:
    """Hatch pattern per label for the VOC palette (see :func:`wsss_zoo.viz_layout.hatch_styles`)."""
    return hatch_styles(sorted({int(v) for v in labels}), _palette())


def paint_mask(image: np.ndarray, mask: np.ndarray, *, alpha: float = 0.6, boundaries: bool = True,
               styles: Optional[Dict[int, int]] = None) -> np.ndarray:
    """The image with the label map painted over it; same size, no text.

    Each class pixel is ``(1 - alpha) * image + alpha * palette colour``; classes with a hatch style
    (``styles``, default :func:`label_styles` of the classes present) carry white hatch lines;
    ignore pixels show the image washed out to grey; boundaries between labels are white.
    """
    image = np.asarray(image, dtype=np.uint8)
    mask = np.asarray(mask)
    if mask.shape != image.shape[:2]:
        raise ConfigError(f"label map is {mask.shape} but the image is {image.shape[:2]}")
    out = _blend(image, colorize(mask), alpha, where=(mask != 0) & (mask != IGNORE))
    ignore = mask == IGNORE
    if ignore.any():
        out[ignore] = _wash(image)[ignore]
    styles = label_styles(present_labels(mask)) if styles is None else styles
    spacing = hatch_spacing(*mask.shape)
    for label, style in styles.items():
        if style and label != IGNORE:
            lines = (mask == label) & hatch_pattern(style, mask.shape, spacing)
            out[lines] = _blend(out[lines], np.full(3, 255), _HATCH_ALPHA)
    if boundaries:
        out[_boundaries(mask)] = 255
    return out


def swatch(label: int, size: int, style: int = 0, *, present: bool = True) -> np.ndarray:
    """A ``size x size`` legend swatch: the class colour with its hatch pattern and a dark border
    (ignore: light grey; ``present=False``, a class that was asked for but is absent: white)."""
    colour = _IGNORE_GREY if label == IGNORE else tuple(int(c) for c in _palette()[label])
    tile = np.empty((size, size, 3), np.uint8)
    tile[:] = colour if present else _BACKDROP
    if present and style:
        lines = hatch_pattern(style, (size, size), max(4, size // 3))
        tile[lines] = _blend(tile[lines], np.full(3, 255), _HATCH_ALPHA)
    tile[[0, -1], :] = (60, 60, 60)
    tile[:, [0, -1]] = (60, 60, 60)
    return tile


def _ink(colour) -> Tuple[int, int, int]:
    """Black or white, whichever reads better on ``colour``."""
    r, g, b = (int(c) for c in colour)
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 110 else (255, 255, 255)


def draw_region_labels(picture: np.ndarray, mask: np.ndarray, dataset: str, size: int) -> np.ndarray:
    """Write each class's name on its regions (a copy): a tag in the class colour centred on the region's
    :func:`~wsss_zoo.viz_layout.label_anchors` point, kept inside the picture. A further region of a
    class is skipped when its tag would overlap an earlier tag or sit within two tag widths of one of
    the same class; a class's largest region is always named."""
    img = Image.fromarray(np.ascontiguousarray(picture))
    draw = ImageDraw.Draw(img)
    fnt = font(size)
    h, w = picture.shape[:2]
    taken: List[Tuple[float, float, float, float]] = []
    named: Dict[int, List[Tuple[float, float]]] = {}
    for anchor in label_anchors(mask):
        name = class_name(anchor.label, dataset)
        left, top, right, bottom = draw.textbbox((0, 0), name, font=fnt, anchor="mm")
        pad = max(2, size // 4)
        bw, bh = right - left + 2 * pad, bottom - top + 2 * pad
        x0 = min(max(0, anchor.x - bw / 2), max(0, w - bw))
        y0 = min(max(0, anchor.y - bh / 2), max(0, h - bh))
        box = (x0, y0, x0 + bw, y0 + bh)
        clash = any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in taken)
        near = any(abs(cx - anchor.x) < 2 * bw and abs(cy - anchor.y) < 3 * bh
                   for cx, cy in named.get(anchor.label, ()))
        if anchor.label in named and (clash or near):
            continue
        colour = tuple(int(c) for c in _palette()[anchor.label])
        draw.rounded_rectangle(box, radius=pad, fill=colour, outline=(40, 40, 40), width=1)
        draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), name, fill=_ink(colour), font=fnt, anchor="mm")
        taken.append(box)
        named.setdefault(anchor.label, []).append((anchor.x, anchor.y))
    return np.asarray(img)


@dataclasses.dataclass(frozen=True)
class LegendEntry:
    """One legend line: a class, its display name, its share of the pixels (0: asked for but absent;
    None: not counted) and its hatch style."""

    label: int
    name: str
    share: Optional[float] = None
    style: int = 0

    @property
    def present(self) -> bool:
        return self.share is None or self.share > 0

    @property
    def share_text(self) -> str:
        if self.share is None:
            return ""
        if self.share == 0:
            return "none"
        return "<0.1 %" if self.share < 0.0005 else f"{self.share * 100:.1f} %"


def legend_entries(mask: np.ndarray, dataset: str, labels: Sequence[int] = (),
                   styles: Optional[Dict[int, int]] = None) -> List[LegendEntry]:
    """The classes of a label map with their pixel shares, plus those of ``labels`` it lacks; ignore last."""
    mask = np.asarray(mask)
    counts = np.bincount(mask.ravel().astype(np.int64), minlength=256)
    shown = sorted(set(present_labels(mask)) | {int(v) for v in labels if v not in (0, IGNORE)},
                   key=lambda v: (v == IGNORE, v))
    styles = label_styles(shown) if styles is None else styles
    return [LegendEntry(v, class_name(v, dataset), float(counts[v]) / max(1, mask.size), styles.get(v, 0))
            for v in shown]


def no_class_message(labels: Sequence[int], dataset: str) -> str:
    """What the legend says when a label map holds background (and ignore) only."""
    names = [class_name(int(v), dataset) for v in labels if v not in (0, IGNORE)]
    if not names:
        return "no class pixels"
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f"no {listed} pixels left"


def _draw_entries(img: Image.Image, entries: Sequence[LegendEntry], x: int, y: int, size: int, line_h: int,
                  share_right: Optional[int] = None) -> None:
    """Swatch + name (+ share, right-aligned at ``share_right``) per entry, one line each from ``(x, y)``."""
    draw = ImageDraw.Draw(img)
    fnt = font(size)
    sw = max(8, round(size * 1.1))
    for i, e in enumerate(entries):
        mid = y + i * line_h + line_h // 2
        img.paste(Image.fromarray(swatch(e.label, sw, e.style, present=e.present)), (x, mid - sw // 2))
        draw.text((x + sw + size // 2, mid), e.name, fill=_TEXT if e.present else _MUTED, font=fnt, anchor="lm")
        if share_right is not None and e.share_text:
            draw.text((share_right, mid), e.share_text, fill=_MUTED if e.present else _WARN, font=fnt, anchor="rm")


def legend_strip(entries: Sequence[LegendEntry], height: int, size: int, *, warning: Optional[str] = None,
                 note: Optional[str] = None) -> np.ndarray:
    """The overlay's legend: a white strip at least ``height`` tall (taller when its text needs it), as
    wide as its text needs (at least 9 ``size``).

    From the top: with ``warning``, "all background" and the warning in red; a "% of pixels" header
    and one line per entry (swatch, name, share; further columns of at least 3 entries when they do
    not fit the height); ``note`` in grey at the bottom.
    """
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    fnt, small = font(size), font(max(9, round(size * 0.85)))
    pad, gap, sw = max(4, round(size * 0.7)), max(3, size // 2), max(8, round(size * 1.1))
    line_h, small_h = round(size * 1.6), round(size * 0.85 * 1.35)
    name_w = max((probe.textlength(e.name, font=fnt) for e in entries), default=0)
    share_w = max((probe.textlength(e.share_text, font=fnt) for e in entries), default=0)
    col_w = int(np.ceil(sw + gap + name_w + (2 * gap + share_w if share_w else 0)))
    header = "% of pixels" if share_w else ""
    rows, n_cols, width = max(1, len(entries)), 1, max(2 * pad + col_w, round(size * 9))
    for _ in range(3):  # wrapping depends on the width, the width on the columns the height allows
        warn_lines = _wrap(probe, warning, width - 2 * pad, small) if warning else []
        note_lines = _wrap(probe, note, width - 2 * pad, small) if note else []
        warn_h = line_h + len(warn_lines) * small_h + gap if warning else 0
        fixed = 2 * pad + warn_h + (small_h if header else 0) + len(note_lines) * small_h
        rows = min(max(1, len(entries)), max(3, (height - fixed) // line_h))
        n_cols = max(1, -(-len(entries) // rows))
        width = max(2 * pad + n_cols * col_w + (n_cols - 1) * 2 * gap, round(size * 9))
    height = max(height, fixed + (rows * line_h if entries else 0))
    img = Image.new("RGB", (width, height), _BACKDROP)
    draw = ImageDraw.Draw(img)
    y = pad
    if warning:
        draw.text((pad, y + line_h // 2), "all background", fill=_WARN, font=fnt, anchor="lm")
        y += line_h
        for line in warn_lines:
            draw.text((pad, y + small_h // 2), line, fill=_WARN, font=small, anchor="lm")
            y += small_h
        y += gap
    for c in range(n_cols):
        x = pad + c * (col_w + 2 * gap)
        if header:
            draw.text((x + col_w, y + small_h // 2), header, fill=_MUTED, font=small, anchor="rm")
        _draw_entries(img, entries[c * rows:(c + 1) * rows], x, y + (small_h if header else 0), size, line_h,
                      x + col_w)
    for i, line in enumerate(note_lines):
        draw.text((pad, height - pad - (len(note_lines) - i) * small_h + small_h // 2), line, fill=_MUTED,
                  font=small, anchor="lm")
    return np.asarray(img)


def overlay_mask(image: np.ndarray, mask: np.ndarray, dataset: str = "voc", *, alpha: float = 0.6,
                 legend: bool = True, boundaries: bool = True, region_labels: bool = True,
                 labels: Optional[Sequence[int]] = None, note: Optional[str] = None) -> np.ndarray:
    """The image with the label map painted over it (:func:`paint_mask`), each class region named where
    it is deepest (:func:`draw_region_labels`), and a legend strip to the right (:func:`legend_strip`)
    listing each class with its swatch and share of the pixels.

    ``labels``: the image-level labels the map was made for; the legend then also lists those the map
    lacks ("none"). When the map holds no class pixel at all, the strip says so in red ("all
    background: no bicycle or person pixels left"). ``note``: a grey line at the strip's foot, e.g.
    "CRF applied". Size ``(H, W + strip width)``: ``[:H, :W]`` is the painted image with its name
    tags, the strip holds all other text (an image too short for the strip's text is padded with white
    below). ``legend=False`` returns only the image part.
    """
    image = np.asarray(image, dtype=np.uint8)
    mask = np.asarray(mask)
    labels = [int(v) for v in (labels or ())]
    if any(not 0 <= v <= IGNORE for v in labels):
        raise ConfigError(f"labels must be class ids 0..255, got {labels}")
    present = present_labels(mask) if mask.shape == image.shape[:2] else []
    styles = label_styles(present + labels)
    out = paint_mask(image, mask, alpha=alpha, boundaries=boundaries, styles=styles)
    size = text_size(*mask.shape)
    if region_labels:
        out = draw_region_labels(out, mask, dataset, max(10, round(size * 0.85)))
    if not legend:
        return out
    empty = not any(v != IGNORE for v in present)
    strip = legend_strip(legend_entries(mask, dataset, labels, styles), mask.shape[0], size,
                         warning=no_class_message(labels, dataset) if empty else None, note=note)
    picture = np.full((strip.shape[0], out.shape[1] + strip.shape[1], 3), 255, np.uint8)
    picture[:out.shape[0], :out.shape[1]] = out
    picture[:, out.shape[1]:] = strip
    return picture


# --------------------------------------------------------------------------- figures
def _title_strip(titles: Sequence[str], widths: Sequence[int], gap: int, height: int = TITLE_HEIGHT,
                 size: int = 13) -> np.ndarray:
    total = sum(widths) + gap * (len(widths) - 1)
    strip = Image.new("RGB", (total, height), _BACKDROP)
    draw = ImageDraw.Draw(strip)
    fnt = font(size)
    x = 0
    for title, w in zip(titles, widths):
        draw.text((x + w / 2, height / 2), _fit_text(draw, title, w - 4, fnt), fill=_TEXT, font=fnt, anchor="mm")
        x += w + gap
    return np.asarray(strip)


def _hstack(parts: Sequence[np.ndarray], gap: int) -> np.ndarray:
    h = max(p.shape[0] for p in parts)
    canvas = np.full((h, sum(p.shape[1] for p in parts) + gap * (len(parts) - 1), 3), 255, np.uint8)
    x = 0
    for p in parts:
        canvas[:p.shape[0], x:x + p.shape[1]] = p
        x += p.shape[1] + gap
    return canvas


def cam_figure(image: np.ndarray, cams: np.ndarray, ids: Sequence[int], dataset: str = "voc", *,
               alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """One heat-map overlay per class, titled with the class name, and a colour bar.

    Size: ``(H + TITLE_HEIGHT, K * W + (K - 1) * GAP + COLORBAR_WIDTH)`` for K classes.
    """
    image = np.asarray(image, dtype=np.uint8)
    cams = np.asarray(cams, dtype=np.float32)
    if cams.ndim != 3 or cams.shape[0] != len(ids):
        raise ConfigError(f"expected {len(ids)} maps [K, H, W], got shape {cams.shape}")
    h, w = image.shape[:2]
    panels = [overlay_cam(image, cam, alpha=alpha, cmap=cmap) for cam in cams]
    titles = _title_strip([class_name(i, dataset) for i in ids], [w] * len(ids), GAP)
    body = np.concatenate([titles, _hstack(panels, GAP)], axis=0)
    bar = np.full((h + TITLE_HEIGHT, COLORBAR_WIDTH, 3), 255, np.uint8)
    bar[TITLE_HEIGHT:] = colorbar(h, cmap)
    return np.concatenate([body, bar], axis=1)


@dataclasses.dataclass
class Column:
    """One pipeline's outputs in a compare grid: a title, an optional subtitle, a CAM and/or a label map."""

    title: str
    cam: Optional[np.ndarray] = None  # [H, W] or [K, H, W] (max over classes is shown)
    mask: Optional[np.ndarray] = None  # [H, W] uint8
    subtitle: str = ""


def _resize(picture: np.ndarray, size_wh: Tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(picture).resize(size_wh, Image.BILINEAR))


def _resize_nearest(mask: np.ndarray, size_wh: Tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(np.asarray(mask, np.uint8)).resize(size_wh, Image.NEAREST))


@dataclasses.dataclass(frozen=True)
class GridLayout:
    """Sizes of a :func:`compare_grid` picture, all derived from the cell width (see :func:`grid_layout`)."""

    cell_width: int
    cell_height: int
    gap: int
    title_size: int  # font sizes in pixels
    subtitle_size: int
    title_height: int
    subtitle_height: int
    row_label_width: int
    legend_height: int  # the legend strip under a one-row grid (two-row grids keep it in the input column)
    n_columns: int  # compared pipelines (the input column comes on top of these)
    n_rows: int

    @property
    def height(self) -> int:
        return (self.title_height + self.subtitle_height + self.n_rows * (self.cell_height + self.gap) + self.gap
                + self.legend_height)

    @property
    def width(self) -> int:
        return self.row_label_width + (self.n_columns + 1) * (self.cell_width + self.gap) + self.gap

    def cell_origin(self, row: int, column: int) -> Tuple[int, int]:
        """(y, x) of a cell's top-left corner; column 0 is the input, row 0 the first output row."""
        return (self.title_height + self.subtitle_height + self.gap + row * (self.cell_height + self.gap),
                self.row_label_width + self.gap + column * (self.cell_width + self.gap))


def grid_layout(image_hw: Tuple[int, int], n_columns: int, n_rows: int, cell_width: int) -> GridLayout:
    """The layout of :func:`compare_grid`'s picture.

    Cells are ``cell_width`` wide and keep the image's aspect ratio. Text scales with the cells so the
    grid reads the same at any size: titles at ``cell_width / 10`` px (11..64; 32 px for the default
    320 px cells, 8 pt when a six-column grid is printed 7 inches wide), subtitles at 0.8 of that;
    ``gap = max(4, cell_width / 50)``. ``height = title + subtitle strips + n_rows * (cell_height + gap)
    + gap (+ a legend strip of 2.8 subtitle sizes under a one-row grid)``, ``width = row-label strip +
    (n_columns + 1) * (cell_width + gap) + gap``.
    """
    title = int(np.clip(round(cell_width / 10), 11, 64))
    sub = max(10, round(title * 0.8))
    return GridLayout(cell_width=cell_width, cell_height=max(1, round(image_hw[0] * cell_width / image_hw[1])),
                      gap=max(4, round(cell_width / 50)), title_size=title, subtitle_size=sub,
                      title_height=round(title * 1.5), subtitle_height=round(sub * 1.5),
                      row_label_width=round(title * 1.5), legend_height=0 if n_rows > 1 else round(sub * 2.8),
                      n_columns=n_columns, n_rows=n_rows)


def grid_size(image_hw: Tuple[int, int], n_columns: int, n_rows: int, cell_width: int) -> Tuple[int, int]:
    """(height, width) of :func:`compare_grid`'s picture; see :func:`grid_layout`."""
    layout = grid_layout(image_hw, n_columns, n_rows, cell_width)
    return layout.height, layout.width


def _cell_note(h: int, w: int, text: str, size: int, colour=_MUTED, picture: Optional[np.ndarray] = None,
               bottom: bool = False) -> np.ndarray:
    """A cell with a short note: on white, centred (an output this column does not make), or over
    ``picture`` on a white tag at the bottom."""
    img = Image.fromarray(picture) if picture is not None else Image.new("RGB", (w, h), _BACKDROP)
    draw = ImageDraw.Draw(img)
    fnt = font(size)
    text = _fit_text(draw, text, w - size, fnt)
    y = h - size if bottom else h / 2
    if picture is not None:
        left, top, right, low = draw.textbbox((w / 2, y), text, font=fnt, anchor="mm")
        draw.rectangle((left - size // 3, top - size // 4, right + size // 3, low + size // 4), fill=_BACKDROP)
    draw.text((w / 2, y), text, fill=colour, font=fnt, anchor="mm")
    return np.asarray(img)


def _colour_scale(img: Image.Image, x: int, y: int, width: int, text: int, cmap: str) -> None:
    """A horizontal CAM colour bar at (x, y), ``width`` long, with 0 / CAM score / 1 under it in ``text`` px."""
    bar = max(6, round(text * 0.7))
    ramp = colormap(cmap)[np.linspace(0, 255, max(1, width)).astype(np.uint8)]
    img.paste(Image.fromarray(np.repeat(ramp[None], bar, axis=0)), (x, y))
    draw = ImageDraw.Draw(img)
    for label, tx, anchor in (("0", x, "lt"), ("CAM score", x + width / 2, "mt"), ("1", x + width, "rt")):
        draw.text((tx, y + bar + 2), label, fill=_TEXT, font=font(text), anchor=anchor)


def _scale_height(text: int) -> int:
    """Height :func:`_colour_scale` takes with ``text`` px labels."""
    return max(6, round(text * 0.7)) + 2 + round(text * 1.2)


def _key_cell(h: int, w: int, entries: Sequence[LegendEntry], size: int, cmap: Optional[str]) -> np.ndarray:
    """The input column's lower cell: the legend and, when there is a CAM row, the colour scale."""
    img = Image.new("RGB", (w, h), _BACKDROP)
    text = max(9, round(size * 0.8))
    room = h - (_scale_height(text) + size // 2 if cmap else 0)
    for s in range(size, 7, -1):  # shrink until the entries fit the room above the scale
        line_h = round(s * 1.5)
        if len(entries) * line_h <= room or s == 8:
            break
    _draw_entries(img, entries, size // 2, 0, s, line_h)
    if cmap:
        _colour_scale(img, size // 2, h - _scale_height(text), w - size, text, cmap)
    return np.asarray(img)


def _legend_row(width: int, height: int, x0: int, entries: Sequence[LegendEntry], size: int,
                cmap: Optional[str]) -> np.ndarray:
    """The strip under a one-row grid: entries side by side (flowing onto a second line) and the colour scale."""
    img = Image.new("RGB", (width, height), _BACKDROP)
    scale_w = min(width // 3, 12 * size) if cmap else 0
    room = width - x0 - scale_w - (2 * size if cmap else 0)
    probe = ImageDraw.Draw(img)
    for s in range(size, 7, -1):
        widths = [round(s * 1.1) + s // 2 + probe.textlength(e.name, font=font(s)) + 1.5 * s for e in entries]
        lines, x = 1, 0.0
        for wd in widths:
            if x and x + wd > room:
                lines, x = lines + 1, 0.0
            x += wd
        if lines <= 2 or s == 8:
            break
    line_h = height // 2
    x, line = 0.0, 0
    for e, wd in zip(entries, widths):
        if x and x + wd > room:
            x, line = 0.0, line + 1
        _draw_entries(img, [e], int(x0 + x), line * line_h, s, line_h)
        x += wd
    if cmap:
        _colour_scale(img, width - scale_w - size, max(2, size // 3), scale_w, max(9, round(size * 0.8)), cmap)
    return np.asarray(img)


def _rotated_label(text: str, h: int, width: int, size: int) -> np.ndarray:
    img = Image.new("RGB", (h, width), _BACKDROP)
    draw = ImageDraw.Draw(img)
    fit, fnt = _shrink_to_fit(draw, text, h - 4, size)
    draw.text((h / 2, width / 2), fit, fill=_TEXT, font=fnt, anchor="mm")
    return np.asarray(img.rotate(90, expand=True))


def _title_row(canvas: Image.Image, layout: GridLayout, titles: Sequence[str], y: int, height: int, size: int,
               colour) -> None:
    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(titles):
        _, x = layout.cell_origin(0, i)
        fit, fnt = _shrink_to_fit(draw, text, layout.cell_width - 4, size)
        draw.text((x + layout.cell_width / 2, y + height / 2), fit, fill=colour, font=fnt, anchor="mm")


def compare_grid(image: np.ndarray, columns: Sequence[Column], dataset: str = "voc", *, cell_width: int = 320,
                 cmap: str = "jet", alpha: float = 0.5, title: str = "") -> np.ndarray:
    """One image through several pipelines, side by side: a column per pipeline, a row per output kind.

    Rows: "CAM" (the max over the image's classes, as a heat-map overlay) when any column has a CAM,
    and "mask" (the painted label map, hatched where classes share near-identical colours) when any
    column has one. A column lacking one of the outputs (a segmentation network has no CAM, a CAM
    network no mask) gets a white cell with a short grey note ("label map only" / "CAM only"), and an
    all-background mask says so on its cell. The first column shows the input (subtitle: ``title``);
    the legend of every class shown and the CAM colour scale appear once: below the input in a
    two-row grid, in a strip under a one-row grid. Size and font sizes: :func:`grid_layout`.
    """
    image = np.asarray(image, dtype=np.uint8)
    if not columns:
        raise ConfigError("nothing to compare: give at least one pipeline or model")
    if cell_width < 32:
        raise ConfigError(f"cell width {cell_width} is too small; use at least 32 pixels")
    h, w = image.shape[:2]
    rows = [kind for kind in ("cam", "mask") if any(getattr(c, kind) is not None for c in columns)]
    if not rows:
        raise ConfigError("none of the pipelines produced an output to show")
    layout = grid_layout((h, w), len(columns), len(rows), cell_width)
    size_wh = (cell_width, layout.cell_height)
    shown = sorted({v for c in columns if c.mask is not None for v in present_labels(c.mask)},
                   key=lambda v: (v == IGNORE, v))
    styles = label_styles(shown)
    entries = [LegendEntry(v, class_name(v, dataset), None, styles.get(v, 0)) for v in shown]
    canvas = Image.new("RGB", (layout.width, layout.height), _BACKDROP)
    _title_row(canvas, layout, ["input"] + [c.title for c in columns], 0, layout.title_height, layout.title_size,
               _TEXT)
    _title_row(canvas, layout, [title] + [c.subtitle for c in columns], layout.title_height,
               layout.subtitle_height, layout.subtitle_size, _MUTED)
    small = _resize(image, size_wh)
    ch, sub = layout.cell_height, layout.subtitle_size
    for r, kind in enumerate(rows):
        y, _ = layout.cell_origin(r, 0)
        canvas.paste(Image.fromarray(_rotated_label("CAM" if kind == "cam" else "mask", ch, layout.row_label_width,
                                                    layout.title_size)), (0, y))
        if r == 0:
            cells = [small]
        else:
            cells = [_key_cell(ch, cell_width, entries, sub, cmap if "cam" in rows else None)]
        for col in columns:
            if kind == "cam" and col.cam is not None:
                cam = np.asarray(col.cam, dtype=np.float32)
                cam = cam.max(axis=0) if cam.ndim == 3 else cam
                cells.append(_resize(overlay_cam(image, cam, alpha=alpha, cmap=cmap), size_wh))
            elif kind == "mask" and col.mask is not None:
                mask = _resize_nearest(col.mask, size_wh)
                painted = paint_mask(small, mask, styles=styles)
                if not np.any((mask != 0) & (mask != IGNORE)):
                    painted = _cell_note(ch, cell_width, "all background", sub, _WARN, painted, bottom=True)
                cells.append(painted)
            else:
                cells.append(_cell_note(ch, cell_width, "label map only" if kind == "cam" else "CAM only",
                                        round(sub * 0.8), _FAINT))
        for c, cell in enumerate(cells):
            canvas.paste(Image.fromarray(cell), layout.cell_origin(r, c)[::-1])
    if layout.legend_height:
        y = layout.height - layout.legend_height
        strip = _legend_row(layout.width, layout.legend_height, layout.cell_origin(0, 0)[1], entries, sub,
                            cmap if "cam" in rows else None)
        canvas.paste(Image.fromarray(strip), (0, y))
    return np.asarray(canvas)

"""Pictures of CAMs and label maps: heat-map overlays, palette overlays with a legend, compare grids.

Everything returns HxWx3 uint8 RGB arrays and is drawn with PIL (matplotlib only lends its colour
maps), so output sizes follow fixed rules:

* :func:`overlay_mask` and :func:`overlay_cam` -- exactly the image's size;
* :func:`cam_figure` -- K panels of the image's size side by side under a title strip, plus a colour
  bar: ``(H + TITLE_HEIGHT, K * W + (K - 1) * GAP + COLORBAR_WIDTH)``;
* :func:`compare_grid` -- see :func:`grid_size`.

Label maps use the PASCAL VOC colour map for VOC and COCO alike (COCO masks reuse it for ids 0..80,
as EPS's COCO pseudo labels do); 255 (ignore) is drawn in VOC's void colour.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .classes import CLASS_LISTS, pascal_palette
from .errors import ConfigError
from .fileio import atomic_save_image

TITLE_HEIGHT = 22
GAP = 6
COLORBAR_WIDTH = 46
ROW_LABEL_WIDTH = 22
IGNORE = 255
_TEXT = (24, 24, 24)
_BACKDROP = (255, 255, 255)


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
    edge = np.zeros(mask.shape, dtype=bool)
    edge[:, 1:] |= mask[:, 1:] != mask[:, :-1]
    edge[1:, :] |= mask[1:, :] != mask[:-1, :]
    return edge


def draw_legend(picture: np.ndarray, labels: Sequence[int], dataset: str, *, corner: str = "top-left",
                size: Optional[int] = None, max_height: Optional[int] = None) -> np.ndarray:
    """Draw a swatch + class-name legend inside ``picture`` (a copy), on a light translucent box.

    Entries flow into more columns when they exceed ``max_height`` (default: the picture's height);
    the font shrinks (down to 8 px) until the columns fit the width.
    """
    if not labels:
        return picture
    h, w = picture.shape[:2]
    max_h = min(h, max_height or h)
    size = size or int(np.clip(round(min(h, w) / 22), 9, 16))
    names = [class_name(v, dataset) for v in labels]
    img = Image.fromarray(picture)
    draw = ImageDraw.Draw(img, "RGBA")
    while True:
        fnt = font(size)
        pad, line_h = max(2, size // 3), size + max(2, size // 3)
        rows = max(1, min(len(names), (max_h - 2 * pad) // line_h))
        n_cols = -(-len(names) // rows)
        col_w = pad * 2 + size + max(draw.textlength(n, font=fnt) for n in names)
        if n_cols * col_w + pad <= w or size <= 8:
            break
        size -= 1
    box_w = int(min(w, n_cols * col_w + pad))
    box_h = int(min(max_h, pad * 2 + line_h * rows))
    x0 = 0 if corner.endswith("left") else w - box_w
    y0 = 0 if corner.startswith("top") else h - box_h
    draw.rectangle([x0, y0, x0 + box_w - 1, y0 + box_h - 1], fill=(255, 255, 255, 200))
    for i, (label, name) in enumerate(zip(labels, names)):
        x, y = x0 + pad + (i // rows) * col_w, y0 + pad + (i % rows) * line_h
        colour = tuple(int(c) for c in _palette()[label])
        draw.rectangle([x, y + 1, x + size - 1, y + size], fill=colour, outline=(60, 60, 60))
        draw.text((x + pad + size, y + size / 2 + 1), _fit_text(draw, name, int(col_w - pad * 2 - size), fnt),
                  fill=_TEXT, font=fnt, anchor="lm")
    return np.asarray(img)


def overlay_mask(image: np.ndarray, mask: np.ndarray, dataset: str = "voc", *, alpha: float = 0.6,
                 legend: bool = True, boundaries: bool = True) -> np.ndarray:
    """The image with the label map's palette colours over every non-background pixel; same size.

    Class boundaries are traced in white and, with ``legend``, the classes present are named in the
    top-left corner.
    """
    image = np.asarray(image, dtype=np.uint8)
    mask = np.asarray(mask)
    if mask.shape != image.shape[:2]:
        raise ConfigError(f"label map is {mask.shape} but the image is {image.shape[:2]}")
    out = _blend(image, colorize(mask), alpha, where=mask != 0)
    if boundaries:
        out[_boundaries(mask)] = 255
    if legend:
        out = draw_legend(out, present_labels(mask), dataset)
    return out


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


def grid_size(image_hw: Tuple[int, int], n_columns: int, n_rows: int, cell_width: int) -> Tuple[int, int]:
    """(height, width) of :func:`compare_grid`'s picture.

    Cells are ``cell_width`` wide and keep the image's aspect ratio; an input column comes first and
    a row-label strip on the left: ``width = ROW_LABEL_WIDTH + (n_columns + 1) * (cell_width + GAP) + GAP``,
    ``height = 2 * TITLE_HEIGHT + n_rows * (cell_height + GAP) + GAP``.
    """
    cell_h = max(1, round(image_hw[0] * cell_width / image_hw[1]))
    return (2 * TITLE_HEIGHT + n_rows * (cell_h + GAP) + GAP,
            ROW_LABEL_WIDTH + (n_columns + 1) * (cell_width + GAP) + GAP)


def _placeholder(h: int, w: int, text: str) -> np.ndarray:
    img = Image.new("RGB", (w, h), (236, 236, 236))
    draw = ImageDraw.Draw(img)
    fnt = font(11)
    draw.text((w / 2, h / 2), _fit_text(draw, text, w - 6, fnt), fill=(120, 120, 120), font=fnt, anchor="mm")
    return np.asarray(img)


def _legend_cell(h: int, w: int, labels: Sequence[int], dataset: str, cmap: Optional[str]) -> np.ndarray:
    """The input column's lower cell: the class legend and, when a CAM row exists, the colour scale."""
    cell = np.full((h, w, 3), 255, np.uint8)
    bar_h = max(8, min(h, w) // 12)
    if cmap is not None:
        ramp = colormap(cmap)[np.linspace(0, 255, max(1, w - 16)).astype(np.uint8)]
        cell[h - bar_h - 14:h - 14, 8:w - 8] = ramp[None]
        img = Image.fromarray(cell)
        draw = ImageDraw.Draw(img)
        fnt = font(10)
        draw.text((8, h - 12), "0", fill=_TEXT, font=fnt, anchor="lt")
        draw.text((w / 2, h - 12), "CAM", fill=_TEXT, font=fnt, anchor="mt")
        draw.text((w - 8, h - 12), "1", fill=_TEXT, font=fnt, anchor="rt")
        cell = np.asarray(img)
    room = h - (bar_h + 18 if cmap is not None else 0)
    return draw_legend(cell, list(labels), dataset, size=int(np.clip(w // 14, 10, 16)), max_height=room)


def _rotated_label(text: str, h: int) -> np.ndarray:
    img = Image.new("RGB", (h, ROW_LABEL_WIDTH), _BACKDROP)
    draw = ImageDraw.Draw(img)
    fnt = font(12)
    draw.text((h / 2, ROW_LABEL_WIDTH / 2), _fit_text(draw, text, h - 4, fnt), fill=_TEXT, font=fnt, anchor="mm")
    return np.asarray(img.rotate(90, expand=True))


def compare_grid(image: np.ndarray, columns: Sequence[Column], dataset: str = "voc", *, cell_width: int = 320,
                 cmap: str = "jet", alpha: float = 0.5, title: str = "") -> np.ndarray:
    """One image through several pipelines, side by side: a column per pipeline, a row per output kind.

    Rows: "CAM" (the max over the image's classes, as a heat-map overlay) when any column has a CAM,
    and "mask" (palette overlay) when any column has a label map; a column lacking an output gets a
    grey placeholder. The first column shows the input and, below it, the legend of every class
    present and the CAM colour scale. Size: :func:`grid_size`.
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
    grid_h, grid_w = grid_size((h, w), len(columns), len(rows), cell_width)
    cell_h = max(1, round(h * cell_width / w))
    size_wh = (cell_width, cell_h)
    canvas = np.full((grid_h, grid_w, 3), 255, np.uint8)
    legend_labels = sorted({v for c in columns if c.mask is not None for v in present_labels(c.mask)},
                           key=lambda v: (v == IGNORE, v))
    heads = _title_strip(["input"] + [c.title for c in columns], [cell_width] * (len(columns) + 1), GAP)
    subs = _title_strip([title] + [c.subtitle for c in columns], [cell_width] * (len(columns) + 1), GAP, size=11)
    x0 = ROW_LABEL_WIDTH + GAP
    canvas[:TITLE_HEIGHT, x0:x0 + heads.shape[1]] = heads
    canvas[TITLE_HEIGHT:2 * TITLE_HEIGHT, x0:x0 + subs.shape[1]] = subs
    small = _resize(image, size_wh)
    for r, kind in enumerate(rows):
        y = 2 * TITLE_HEIGHT + r * (cell_h + GAP) + GAP
        canvas[y:y + cell_h, :ROW_LABEL_WIDTH] = _rotated_label("CAM" if kind == "cam" else "mask", cell_h)
        first = small if r == 0 else _legend_cell(cell_h, cell_width, legend_labels, dataset,
                                                  cmap if "cam" in rows else None)
        cells = [first]
        for col in columns:
            if kind == "cam" and col.cam is not None:
                cam = np.asarray(col.cam, dtype=np.float32)
                cam = cam.max(axis=0) if cam.ndim == 3 else cam
                cells.append(_resize(overlay_cam(image, cam, alpha=alpha, cmap=cmap), size_wh))
            elif kind == "mask" and col.mask is not None:
                mask = _resize_nearest(col.mask, size_wh)
                cells.append(overlay_mask(small, mask, dataset, legend=len(rows) == 1))
            else:
                cells.append(_placeholder(cell_h, cell_width, "no CAM" if kind == "cam" else "no mask"))
        row = _hstack(cells, GAP)
        canvas[y:y + cell_h, x0:x0 + row.shape[1]] = row
    return canvas

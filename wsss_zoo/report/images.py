"""Pictures embedded in the report: thumbnails, colour label maps, error maps, the confusion heat map.

Every picture becomes a ``data:`` URI (PNG for label maps and the heat map, JPEG for photographs), so
the HTML file needs nothing else. Label maps are palette PNGs in the VOC colours
(:func:`wsss_zoo.data.io.label_image`; 255 is VOC's void colour).
"""
from __future__ import annotations

import base64
import io
from typing import Optional, Tuple

import numpy as np
from PIL import Image

from ..data.io import label_image
from ..viz import colormap

#: Colour of wrongly predicted pixels in the error map.
ERROR_RGB = (230, 30, 60)


def _uri(im: Image.Image, fmt: str, **options) -> str:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **options)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def data_uri(picture: np.ndarray, fmt: str = "PNG", quality: int = 85) -> str:
    """``data:image/png;base64,...`` (or JPEG) of an RGB uint8 array."""
    im = Image.fromarray(np.ascontiguousarray(picture, dtype=np.uint8))
    return _uri(im, "JPEG", quality=quality) if fmt == "JPEG" else _uri(im, "PNG")


def label_uri(label: np.ndarray) -> str:
    """A label map as a palette PNG ``data:`` URI in the VOC colours (small and quick to encode)."""
    return _uri(label_image(label), "PNG")


def thumb_size(shape: Tuple[int, int], longest: int) -> Tuple[int, int]:
    """(W, H) of a thumbnail whose longer side is at most ``longest`` (never upscaled)."""
    h, w = shape[:2]
    scale = min(1.0, longest / max(h, w, 1))
    return max(1, round(w * scale)), max(1, round(h * scale))


def thumbnail(image: np.ndarray, longest: int) -> np.ndarray:
    """A photograph scaled down (bilinear) to fit ``longest`` pixels."""
    size = thumb_size(image.shape, longest)
    if size == (image.shape[1], image.shape[0]):
        return np.asarray(image, dtype=np.uint8)
    return np.asarray(Image.fromarray(np.asarray(image, dtype=np.uint8)).resize(size, Image.BILINEAR))


def label_thumbnail(label: np.ndarray, longest: int) -> np.ndarray:
    """A label map scaled down with nearest neighbours (class ids stay class ids)."""
    size = thumb_size(label.shape, longest)
    if size == (label.shape[1], label.shape[0]):
        return np.asarray(label, dtype=np.uint8)
    return np.asarray(Image.fromarray(np.asarray(label, dtype=np.uint8)).resize(size, Image.NEAREST))


def error_map(image: np.ndarray, gt: np.ndarray, pred: np.ndarray, num_classes: int, *,
              drop_invalid: bool = False) -> np.ndarray:
    """The image in light grey, with the counted GT pixels whose prediction is wrong in :data:`ERROR_RGB`
    (``drop_invalid``: out-of-range predictions are not counted, as the ``eps`` convention does)."""
    grey = np.asarray(image, dtype=np.float32)[..., :3].mean(axis=-1, keepdims=True)
    base = np.repeat(grey * 0.3 + 165, 3, axis=-1)  # a light grey version of the photograph
    pred = np.asarray(pred)
    counted = np.asarray(gt) < num_classes
    if drop_invalid:
        counted &= pred < num_classes
    wrong = counted & (pred != np.asarray(gt))
    base[wrong] = ERROR_RGB
    return np.clip(base, 0, 255).astype(np.uint8)


def heat_map(values: np.ndarray, cell: int, cmap: str = "Blues") -> np.ndarray:
    """A matrix of values in 0..1 as an RGB picture, ``cell`` x ``cell`` pixels per entry."""
    lut = colormap(cmap)
    idx = np.rint(np.clip(np.nan_to_num(values), 0.0, 1.0) * 255).astype(np.uint8)
    return np.repeat(np.repeat(lut[idx], cell, axis=0), cell, axis=1)


def heat_cell(n_rows: int, n_cols: Optional[int] = None, target: int = 440) -> int:
    """Pixels per heat-map cell: the map about ``target`` pixels wide, but at least 8 so that every row and
    column keeps a readable label (COCO's 81 classes: about 650 pixels)."""
    return max(8, target // max(n_rows, n_cols or n_rows, 1))

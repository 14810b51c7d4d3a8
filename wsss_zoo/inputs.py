"""Validation and normalisation of user inputs: images, image-level labels, saliency maps.

These run at the edge of every public function, so that bad input fails with a
:class:`~wsss_zoo.errors.WsssZooError` naming the fix instead of a deep traceback.
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np

from .classes import CLASS_ALIASES, CLASS_LISTS
from .errors import InvalidImageError, InvalidLabelsError, SaliencyError, UnknownNameError

ImageLike = Union[np.ndarray, "PIL.Image.Image", str, os.PathLike]


def load_image(image: ImageLike) -> np.ndarray:
    """Return the image as a C-contiguous HxWx3 uint8 RGB array.

    Accepts an HxWx3 array (uint8, or integer/float values within 0..255), an HxW grey array,
    a PIL image (any mode, converted to RGB as upstream loaders do with ``.convert('RGB')``) or a path.
    """
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise InvalidImageError(f"image file not found: {path}")
        try:
            with Image.open(path) as im:
                return np.ascontiguousarray(np.asarray(im.convert("RGB")))
        except OSError as exc:
            raise InvalidImageError(f"cannot read {path} as an image ({exc}); give a JPEG/PNG file") from exc
    if isinstance(image, Image.Image):
        return np.ascontiguousarray(np.asarray(image.convert("RGB")))
    if hasattr(image, "detach") and hasattr(image, "cpu"):  # torch tensor
        raise InvalidImageError(
            "image is a torch tensor; pass an HxWx3 uint8 numpy array (e.g. tensor.permute(1, 2, 0).numpy())")
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidImageError(
            f"image must be HxWx3 (RGB), got shape {tuple(arr.shape)}; "
            "channels-first arrays must be transposed to HxWxC")
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
            raise InvalidImageError(f"image dtype {arr.dtype} is not numeric; pass uint8 RGB values 0..255")
        if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 255 or np.isnan(arr).any()):
            raise InvalidImageError("image values must lie in 0..255 (uint8 RGB); rescale float images first")
        if np.issubdtype(arr.dtype, np.floating) and arr.size and np.nanmax(arr) <= 1.0 and np.nanmax(arr) > 0:
            raise InvalidImageError("image looks like floats in 0..1; multiply by 255 and cast to uint8")
        arr = np.round(arr).astype(np.uint8)
    return np.ascontiguousarray(arr)


def _class_names(dataset: str) -> Sequence[str]:
    try:
        return CLASS_LISTS[dataset]
    except KeyError:
        raise UnknownNameError(f"unknown dataset {dataset!r}; choose one of {sorted(CLASS_LISTS)}") from None


def class_id(name: str, dataset: str) -> int:
    """Segmentation id (1..C) of a class name; accepts common alternative spellings."""
    names = _class_names(dataset)
    key = name.strip().lower().replace("_", " ")
    lookup = {n.lower(): i for i, n in enumerate(names)}
    if key in lookup and lookup[key] > 0:
        return lookup[key]
    alias = CLASS_ALIASES.get(dataset, {}).get(key)
    if alias is not None:
        return lookup[alias]
    squashed = {n.lower().replace(" ", ""): i for i, n in enumerate(names)}
    if key.replace(" ", "") in squashed and squashed[key.replace(" ", "")] > 0:
        return squashed[key.replace(" ", "")]
    close = difflib.get_close_matches(key, [n for n in names[1:]], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; valid names: {', '.join(names[1:])}"
    raise InvalidLabelsError(f"{name!r} is not a {dataset.upper()} class{hint}")


def parse_labels(labels, dataset: str) -> list:
    """Normalise image-level labels to a sorted list of distinct segmentation ids (1..C).

    ``labels`` may be ids (VOC 1..20, COCO 1..80), class names, a comma-separated string of either,
    or a multi-hot vector of length C (the upstream ``cls_labels.npy`` convention).
    """
    names = _class_names(dataset)
    n_cls = len(names) - 1
    if labels is None:
        raise InvalidLabelsError("labels are required: give class ids or names present in the image")
    if isinstance(labels, str):
        labels = [p for p in labels.replace(";", ",").split(",") if p.strip()]
    elif hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    if isinstance(labels, np.ndarray):
        if labels.ndim == 1 and labels.shape[0] == n_cls and labels.dtype != object and set(
                np.unique(labels).tolist()) <= {0, 1} and labels.dtype.kind in "fb":
            labels = (np.nonzero(labels)[0] + 1).tolist()
        else:
            labels = labels.reshape(-1).tolist()
    if not isinstance(labels, Iterable):
        labels = [labels]
    ids = set()
    for item in labels:
        if isinstance(item, (np.integer, int)) and not isinstance(item, bool):
            value = int(item)
        elif isinstance(item, (float, np.floating)) and float(item).is_integer():
            value = int(item)
        elif isinstance(item, str):
            text = item.strip()
            value = int(text) if text.lstrip("-").isdigit() else class_id(text, dataset)
        else:
            raise InvalidLabelsError(f"label {item!r} is neither a class id nor a class name")
        if not 1 <= value <= n_cls:
            extra = " (0 is background and is never a label)" if value == 0 else ""
            raise InvalidLabelsError(
                f"label id {value} is outside {dataset.upper()}'s classes 1..{n_cls}{extra}")
        ids.add(value)
    if not ids:
        raise InvalidLabelsError("labels are empty: give at least one class present in the image")
    return sorted(ids)


def label_vector(ids: Sequence[int], dataset: str) -> np.ndarray:
    """Multi-hot float32 vector of length C (classification indices = id - 1)."""
    vec = np.zeros(len(_class_names(dataset)) - 1, dtype=np.float32)
    vec[np.asarray(ids, dtype=np.int64) - 1] = 1.0
    return vec


def load_saliency(saliency, shape) -> np.ndarray:
    """Return a saliency map as an HxW uint8 array (0..255) of the image's size.

    ``saliency`` may be a path, a PIL image or an array (uint8 0..255, or float 0..1 which is scaled).
    """
    from PIL import Image

    if saliency is None:
        raise SaliencyError(
            "this pipeline needs a saliency map (HxW, 0..255) for the image; pass saliency=<path or array> "
            "(DRS uses the maps of its saliency_map.zip release asset)")
    if isinstance(saliency, (str, os.PathLike)):
        if not Path(saliency).is_file():
            raise SaliencyError(f"saliency file not found: {saliency}")
        with Image.open(saliency) as im:
            arr = np.asarray(im.convert("L"))
    elif isinstance(saliency, Image.Image):
        arr = np.asarray(saliency.convert("L"))
    else:
        arr = np.asarray(saliency)
        if arr.ndim == 3 and arr.shape[2] in (1, 3, 4):
            arr = arr[:, :, 0]
        if arr.ndim != 2:
            raise SaliencyError(f"saliency must be an HxW map, got shape {tuple(arr.shape)}")
        if arr.dtype != np.uint8:
            arr = arr.astype(np.float64)
            if arr.size and arr.max() <= 1.0:
                arr = arr * 255.0
            arr = np.clip(np.round(arr), 0, 255).astype(np.uint8)
    h, w = shape[:2]
    if arr.shape != (h, w):
        raise SaliencyError(
            f"saliency map is {arr.shape[0]}x{arr.shape[1]} but the image is {h}x{w}; "
            "give the map computed for this image at its original size")
    return np.ascontiguousarray(arr)

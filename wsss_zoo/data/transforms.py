"""Evaluation views of an image/GT pair that upstream evaluators apply before predicting.

Only one is needed: VainF/DRS DeepLab-V3+ ``--crop_val`` (``main.py get_dataset``): ``ExtResize(513)``
(shorter side to 513, longer side ``int(513 * long / short)``; image PIL bilinear, label nearest) then
``ExtCenterCrop(513)`` (torchvision ``center_crop``: offsets ``int(round((H - 513) / 2))``, zero padding
when smaller). The DRS README numbers for DeepLab-V3+ were measured on these crops.
"""
from __future__ import annotations

import numpy as np


def _resize_shorter(arr: np.ndarray, size: int, resample) -> np.ndarray:
    from PIL import Image

    h, w = arr.shape[:2]
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_h, new_w = size, int(size * w / h)
    if (new_h, new_w) == (h, w):
        return arr
    return np.asarray(Image.fromarray(arr).resize((new_w, new_h), resample))


def _center_crop(arr: np.ndarray, size: int) -> np.ndarray:
    h, w = arr.shape[:2]
    if h < size or w < size:  # torchvision pads with 0 (left/top get the smaller half)
        pad_h, pad_w = max(size - h, 0), max(size - w, 0)
        pads = [(pad_h // 2, (pad_h + 1) // 2), (pad_w // 2, (pad_w + 1) // 2)] + [(0, 0)] * (arr.ndim - 2)
        arr = np.pad(arr, pads)
        h, w = arr.shape[:2]
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return np.ascontiguousarray(arr[top:top + size, left:left + size])


def crop_val_image(image: np.ndarray, size: int = 513) -> np.ndarray:
    """VainF ``--crop_val`` view of an HxWx3 uint8 image (bilinear resize, centre crop)."""
    from PIL import Image

    return _center_crop(_resize_shorter(image, size, Image.BILINEAR), size)


def crop_val_label(label: np.ndarray, size: int = 513) -> np.ndarray:
    """VainF ``--crop_val`` view of a label map (nearest resize, centre crop; padding would be 0)."""
    from PIL import Image

    return _center_crop(_resize_shorter(label, size, Image.NEAREST), size)

"""Image -> network input: PIL rescaling as upstream loaders do it, and the normalisation of an entry's
``preprocess`` record (:class:`~wsss_zoo.registry.Preprocess`).

Two normalisation arithmetics exist upstream and both are kept bit-exact:

* ``float64`` -- numpy in float64, rounded to float32 at the end (PSA/EPS ``Normalize``, IRN
  ``TorchvisionNormalize``, kazuto1011's ``image -= mean`` on a float64 mean);
* ``float32`` -- torch float32 arithmetic as torchvision ``ToTensor`` + ``Normalize`` (DRS
  ``utils/transforms``, VainF ``ext_transforms``); within one ulp of the float64 result.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch

from ..registry import Preprocess

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (104.008, 116.669, 122.675)
#: the two normalisations used upstream (training code and tests use them by name)
IMAGENET = Preprocess("RGB", 255.0, IMAGENET_MEAN, IMAGENET_STD, "float64")
IMAGENET_F32 = Preprocess("RGB", 255.0, IMAGENET_MEAN, IMAGENET_STD, "float32")
CAFFE_BGR = Preprocess("BGR", 1.0, CAFFE_MEAN_BGR, None, "float64")

_PIL_FILTERS = {"bicubic": 3, "bilinear": 2, "nearest": 0}


def scaled_size(height: int, width: int, scale: float) -> Tuple[int, int]:
    """(round(H*s), round(W*s)) with round-half-to-even, as Python's ``round`` and ``np.round`` do upstream."""
    return int(round(height * scale)), int(round(width * scale))


def pil_resize(image: np.ndarray, size_hw: Tuple[int, int], resample: str = "bicubic") -> np.ndarray:
    """PIL resize of a uint8 array to (H, W); the result is uint8 like upstream's PIL path."""
    from PIL import Image

    th, tw = size_hw
    return np.asarray(Image.fromarray(image).resize((tw, th), resample=_PIL_FILTERS[resample]))


def pil_rescale(image: np.ndarray, scale: float, resample: str = "bicubic") -> np.ndarray:
    """Resize a uint8 HxWx3 image by ``scale`` with PIL (upstream ``pil_rescale`` / ``img.resize``).

    A scale that keeps the size returns the image untouched, as IRN's ``pil_rescale`` is skipped for 1.0
    and a PIL resize to the same size is the identity.
    """
    h, w = image.shape[:2]
    size = scaled_size(h, w, scale)
    return image if size == (h, w) else pil_resize(image, size, resample)


def normalize(image: np.ndarray, pre: Preprocess = IMAGENET) -> torch.Tensor:
    """uint8 HxWx3 RGB -> float32 3xHxW: ``(x[channel_order] / scale - mean) / std`` in ``pre.arithmetic``."""
    if pre.arithmetic == "float32":
        x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float()
        if pre.channel_order == "BGR":
            x = x.flip(0)
        if pre.scale != 1:
            x = x.div(pre.scale)
        x = x.sub_(torch.tensor(pre.mean, dtype=torch.float32).view(3, 1, 1))
        if pre.std is not None:
            x = x.div_(torch.tensor(pre.std, dtype=torch.float32).view(3, 1, 1))
        return x.contiguous()
    arr = image[:, :, ::-1] if pre.channel_order == "BGR" else image
    arr = arr.astype(np.float64)
    if pre.scale != 1:
        arr = arr / pre.scale
    arr = arr - np.asarray(pre.mean)
    if pre.std is not None:
        arr = arr / np.asarray(pre.std)
    return torch.from_numpy(np.ascontiguousarray(arr.astype(np.float32).transpose(2, 0, 1)))


def normalize_imagenet(image: np.ndarray) -> torch.Tensor:
    """ImageNet normalisation in float64 (PSA/EPS ``Normalize``, IRN ``TorchvisionNormalize``)."""
    return normalize(image, IMAGENET)


def normalize_caffe_bgr(image_rgb: np.ndarray) -> torch.Tensor:
    """BGR minus the Caffe mean, no std (DeepLab-V2 / kazuto1011)."""
    return normalize(image_rgb, CAFFE_BGR)

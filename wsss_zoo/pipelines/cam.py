"""Shared CAM machinery: image rescaling, normalisation, multi-scale + flip passes, fusion.

Every CAM recipe of the zoo is built from these pieces; a method differs by configuration
(scales, resize rule, per-pass map, fusion and normalisation), not by a copied loop.
"""
from __future__ import annotations

from typing import Callable, Iterable, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (104.008, 116.669, 122.675)


def scaled_size(height: int, width: int, scale: float) -> Tuple[int, int]:
    """(round(H*s), round(W*s)) with round-half-to-even, as Python's ``round`` and ``np.round`` do upstream."""
    return int(round(height * scale)), int(round(width * scale))


def pil_rescale(image: np.ndarray, scale: float, resample: str = "bicubic") -> np.ndarray:
    """Resize a uint8 HxWx3 image by ``scale`` with PIL (upstream ``pil_rescale`` / ``img.resize``).

    Scale 1.0 returns the image untouched, as IRN's ``pil_rescale`` is skipped for 1.0 and a PIL
    resize to the same size is the identity.
    """
    from PIL import Image

    h, w = image.shape[:2]
    th, tw = scaled_size(h, w, scale)
    if (th, tw) == (h, w):
        return image
    return pil_resize(image, (th, tw), resample)


_PIL_FILTERS = {"bicubic": 3, "bilinear": 2, "nearest": 0}


def pil_resize(image: np.ndarray, size_hw: Tuple[int, int], resample: str = "bicubic") -> np.ndarray:
    """PIL resize of a uint8 array to (H, W); the result is uint8 like upstream's PIL path."""
    from PIL import Image

    th, tw = size_hw
    return np.asarray(Image.fromarray(image).resize((tw, th), resample=_PIL_FILTERS[resample]))


def normalize_imagenet(image: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 RGB -> float32 3xHxW, ``(v/255 - mean)/std`` (PSA/EPS ``Normalize``, IRN ``TorchvisionNormalize``).

    Computed in float64 and stored as float32, as the upstream numpy code does.
    """
    arr = image.astype(np.float64) / 255.0
    arr = (arr - np.asarray(IMAGENET_MEAN)) / np.asarray(IMAGENET_STD)
    return torch.from_numpy(np.ascontiguousarray(arr.astype(np.float32).transpose(2, 0, 1)))


def normalize_imagenet_f32(image: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 RGB -> float32 3xHxW in float32 arithmetic, as torchvision ``ToTensor`` + ``Normalize``
    compute it (DRS ``utils/transforms``, VainF ``ext_transforms``); within one ulp of :func:`normalize_imagenet`."""
    x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
    return x.sub_(mean).div_(std).contiguous()


def normalize_caffe_bgr(image_rgb: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 RGB -> float32 3xHxW BGR minus the Caffe mean, no std (DeepLab-V2 / kazuto1011)."""
    bgr = image_rgb[:, :, ::-1].astype(np.float32)
    arr = (bgr - np.asarray(CAFFE_MEAN_BGR)).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def with_flip(x: torch.Tensor) -> torch.Tensor:
    """Stack a CHW (or 1xCxHxW) tensor with its horizontal flip into a batch of 2."""
    if x.dim() == 3:
        x = x.unsqueeze(0)
    return torch.cat([x, x.flip(-1)], dim=0)


def unflip_sum(maps: torch.Tensor) -> torch.Tensor:
    """Sum a batch [x, flip(x)] of maps after flipping the second back: ``m[0] + m[1].flip(-1)``."""
    return maps[0] + maps[1].flip(-1)


def resize_maps(maps: torch.Tensor, size: Tuple[int, int], align_corners: bool = False) -> torch.Tensor:
    """Bilinear resize of [N, C, h, w] (or [C, h, w]) maps to ``size``."""
    squeeze = maps.dim() == 3
    if squeeze:
        maps = maps.unsqueeze(0)
    out = F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=align_corners)
    return out[0] if squeeze else out


def multiscale_passes(image: np.ndarray, scales: Sequence[float], flip: bool,
                      prepare: Callable[[np.ndarray], torch.Tensor],
                      rescale: Callable[[np.ndarray, float], np.ndarray] = pil_rescale):
    """Yield ``(scale, batch)`` with batch = [x] or [x, flip(x)] of the prepared rescaled image.

    The flip pair of a scale is one batch of 2, so each scale costs one forward pass.
    """
    for s in scales:
        x = prepare(rescale(image, s))
        yield s, (with_flip(x) if flip else x.unsqueeze(0))


def fuse_passes(maps: torch.Tensor, flip: bool) -> torch.Tensor:
    """Per-scale output [B, C, H, W] -> [C, H, W]: the flip pair is summed after un-flipping."""
    return unflip_sum(maps) if flip else maps[0]


def max_normalize(cams: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Divide each map [K, H, W] by its spatial max + eps (PSA/EPS/IRN normalisation)."""
    peak = cams.flatten(1).max(dim=1).values.view(-1, 1, 1)
    return cams / (peak + eps)


def select_labels(cams: torch.Tensor, ids: Iterable[int]) -> torch.Tensor:
    """Rows of a [C, H, W] map (classification index = id - 1) for the given segmentation ids."""
    idx = torch.as_tensor([i - 1 for i in ids], dtype=torch.long, device=cams.device)
    return cams.index_select(0, idx)


def label_mask(ids: Iterable[int], num_classes: int, device=None) -> torch.Tensor:
    """Multi-hot float32 [C, 1, 1] for multiplying maps by the image label."""
    vec = torch.zeros(num_classes, 1, 1, device=device)
    vec[[i - 1 for i in ids]] = 1.0
    return vec


def threshold_argmax(cams: np.ndarray, ids: Sequence[int], bg: float) -> np.ndarray:
    """Label map from normalised CAMs [K, H, W]: argmax over [bg constant, cams]; ties go to background.

    Index 0 is background, index k maps to ``ids[k-1]`` (np.argmax keeps the first maximum).
    """
    cams = np.asarray(cams, dtype=np.float32)
    stack = np.concatenate([np.full((1,) + cams.shape[1:], bg, dtype=np.float32), cams], axis=0)
    keys = np.asarray([0] + list(ids), dtype=np.uint8)
    return keys[np.argmax(stack, axis=0)]

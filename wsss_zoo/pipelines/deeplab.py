"""Test-time inference of the DeepLab segmentation networks, with their eval scripts' optional dense CRF.

* ``deeplabv2`` -- kazuto1011 ``main.py test`` (also DRS's ``DeepLab-V2-PyTorch``): the full image as
  BGR minus the Caffe mean, MSC max-fused logits at stride 8, bilinear (align_corners=False) to H x W,
  softmax, argmax. ``crf=True`` follows ``main.py crf``: the same probabilities through DenseCRF with the
  ``deeplab`` preset. The image the CRF sees is the one quirk (foundations 7.6): kazuto feeds the
  mean-subtracted BGR tensor cast to uint8 (negative values wrap), DRS's fork adds the mean back first.
  ``crf_image`` picks one: ``"bgr_mean_subtracted"`` (kazuto1011) or ``"bgr_mean_restored"`` (DRS);
  checkpoints.json sets each model's default to the code that produced its reported number.
* ``deeplabv3plus`` -- VainF / DRS ``eval.py`` without ``--crop_val``: the full image, ImageNet-normalised
  RGB, single scale, logits already at H x W, argmax. ``crf=True`` follows DRS ``eval.py``: the logits are
  stored as float16 first (``crf_logits="float16"``; ``"float32"`` skips that rounding), softmax, DenseCRF
  on the de-normalised RGB image.

Call the functions directly to use a non-default option, e.g.
``deeplabv2_segment(model, image, crf=True, crf_image="bgr_mean_restored")``.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..crf import dense_crf_probs
from ..errors import ConfigError
from ..precision import forward_context, input_memory_format
from ..registry import Preprocess
from .base import model_entry_of, register_segment_recipe
from ..finite import check_finite
from .cam import model_device, network_name
from .preprocess import CAFFE_BGR, IMAGENET_F32, normalize

CRF_IMAGES = ("bgr_mean_restored", "bgr_mean_subtracted")
CRF_LOGITS = ("float16", "float32")


def _to_uint8_like_c(values: np.ndarray) -> np.ndarray:
    """numpy ``float -> uint8`` as upstream ran it on x86: truncate toward zero, then wrap modulo 256."""
    return np.trunc(values).astype(np.int64).astype(np.uint8)


def _argmax_u8(probs: torch.Tensor) -> np.ndarray:
    """Per-pixel argmax over classes [C, H, W] (the first maximum on ties, like ``argmax``); ``max(dim=0)``
    runs it several times faster than ``argmax(dim=0)`` on the CPU (a strided reduction)."""
    return probs.max(dim=0).indices.to(torch.uint8).cpu().numpy()


def _crf_argmax(crf_image: np.ndarray, probs: torch.Tensor, preset: str) -> np.ndarray:
    """``main.py crf`` / ``eval.py`` post-processing: DenseCRF on softmax probabilities, then argmax."""
    q = dense_crf_probs(crf_image, probs.float().cpu().numpy(), preset)
    return np.argmax(q, axis=0).astype(np.uint8)


# ----------------------------------------------------------------------------- DeepLab-V2 (kazuto1011)
def _pre(model, pre: Optional[Preprocess]) -> Preprocess:
    return pre if pre is not None else model_entry_of(model).preprocess


def _network_input(model, x: torch.Tensor) -> torch.Tensor:
    return x.unsqueeze(0).to(model_device(model)).contiguous(memory_format=input_memory_format(model))


def deeplabv2_probabilities(model, image: np.ndarray, pre: Optional[Preprocess] = None) -> torch.Tensor:
    """Softmax [C, H, W] of the MSC max-fused logits upsampled to the image (``main.py test``)."""
    x = _network_input(model, normalize(image, _pre(model, pre)))
    with forward_context(model):
        out = model(x)
    check_finite(out, f"the logits of {network_name(model)}")
    logits = F.interpolate(out.float(), size=image.shape[:2], mode="bilinear", align_corners=False)
    return F.softmax(logits, dim=1)[0]


def deeplabv2_crf_image(image: np.ndarray, crf_image: str, pre: Preprocess = CAFFE_BGR) -> np.ndarray:
    """The uint8 HxWx3 image ``main.py crf`` hands to DenseCRF (BGR; the bilateral kernel ignores channel order)."""
    if crf_image not in CRF_IMAGES:
        raise ConfigError(f"crf_image must be one of {CRF_IMAGES}, got {crf_image!r}")
    shifted = normalize(image, pre).numpy().transpose(1, 2, 0)  # float32, as the dataset returns it
    if crf_image == "bgr_mean_restored":  # DRS: image += pixel_mean (float64 sum stored in float32)
        shifted = (shifted + np.asarray(pre.mean)).astype(np.float32)
    return np.ascontiguousarray(_to_uint8_like_c(shifted))


@register_segment_recipe("deeplabv2")
@torch.inference_mode()
def deeplabv2_segment(model, image: np.ndarray, *, crf: bool = False, crf_image: str = "bgr_mean_restored",
                      crf_preset: str = "deeplab", pre: Optional[Preprocess] = None) -> np.ndarray:
    """Label map uint8 [H, W] of DeepLab-V2 MSC (kazuto1011 ``main.py test``, or ``crf`` with ``crf=True``)."""
    pre = _pre(model, pre)
    probs = deeplabv2_probabilities(model, image, pre)
    return _crf_argmax(deeplabv2_crf_image(image, crf_image, pre), probs, crf_preset) if crf else _argmax_u8(probs)


# ----------------------------------------------------------------------------- DeepLab-V3+ (VainF)
def deeplabv3plus_logits(model, image: np.ndarray, pre: Optional[Preprocess] = None) -> torch.Tensor:
    """Logits [C, H, W] of VainF's model on the full normalised image (single scale, no flip)."""
    x = _network_input(model, normalize(image, _pre(model, pre)))
    with forward_context(model):
        out = model(x)
    check_finite(out, f"the logits of {network_name(model)}")
    return out[0].float()


def deeplabv3plus_crf_image(image: np.ndarray, pre: Preprocess = IMAGENET_F32) -> np.ndarray:
    """DRS ``eval.py``: the normalised tensor de-normalised (x std, + mean, x 255, each a float64 operand on
    the float32 array), cast to uint8."""
    restored = normalize(image, pre).permute(1, 2, 0).numpy().copy()
    restored *= list(pre.std)
    restored += list(pre.mean)
    restored *= pre.scale
    return np.ascontiguousarray(_to_uint8_like_c(restored))


@register_segment_recipe("deeplabv3plus")
@torch.inference_mode()
def deeplabv3plus_segment(model, image: np.ndarray, *, crf: bool = False, crf_logits: str = "float16",
                          crf_preset: str = "deeplab", pre: Optional[Preprocess] = None) -> np.ndarray:
    """Label map uint8 [H, W] of DeepLab-V3+ (VainF/DRS ``eval.py`` on the full image; CRF as DRS ``eval.py``)."""
    pre = _pre(model, pre)
    logits = deeplabv3plus_logits(model, image, pre)
    if not crf:
        return _argmax_u8(logits)
    if crf_logits not in CRF_LOGITS:
        raise ConfigError(f"crf_logits must be one of {CRF_LOGITS}, got {crf_logits!r}")
    if crf_logits == "float16":  # eval.py saves the logits as float16 .npy before the CRF pass
        logits = logits.half().float()
    return _crf_argmax(deeplabv3plus_crf_image(image, pre), F.softmax(logits, dim=0), crf_preset)

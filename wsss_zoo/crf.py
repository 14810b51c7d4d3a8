"""Dense CRF: one helper over pydensecrf (the ``crf`` extra, ``pip install "wsss_zoo[crf]"``).

Named presets carry the parameters each method publishes:

* ``psa``      -- PSA/SEAM/SBNet/EPS ``imutils.crf_inference``: softmax unary, Gaussian (sxy 3, compat 3),
  bilateral (sxy 80, srgb 13, compat 10), 10 iterations; returns probabilities.
* ``irn``      -- IRN/CDA/RIB ``imutils.crf_inference_label``: label unary (gt_prob 0.7), Gaussian (3, 3),
  bilateral (sxy 50, srgb 5, compat 10), 10 iterations; returns a label map.
* ``deeplab``  -- kazuto1011 ``libs/utils/crf.py`` with ``configs/voc12.yaml`` (also the EPS README's
  dCRF and DRS's ``eval.py``): softmax unary, Gaussian (sxy 1, compat 3), bilateral (sxy 67, srgb 3,
  compat 4), 10 iterations; returns probabilities.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from .errors import ConfigError, CrfNotInstalledError


@dataclasses.dataclass(frozen=True)
class CrfParams:
    unary: str  # "softmax" or "labels"
    gauss_sxy: float
    gauss_compat: float
    bi_sxy: float
    bi_srgb: float
    bi_compat: float
    iterations: int = 10
    gt_prob: float = 0.7


PRESETS = {
    "psa": CrfParams("softmax", 3, 3, 80, 13, 10, 10),
    "irn": CrfParams("labels", 3, 3, 50, 5, 10, 10, 0.7),
    "deeplab": CrfParams("softmax", 1, 3, 67, 3, 4, 10),
}


def _densecrf():
    try:
        import pydensecrf.densecrf as dcrf
        from pydensecrf import utils
    except ImportError as exc:
        raise CrfNotInstalledError(
            "dense CRF needs pydensecrf: pip install \"wsss_zoo[crf]\" (installs pydensecrf2, which "
            "compiles on Python 3.11/3.12 with g++ and the Python headers), or call with crf=False") from exc
    return dcrf, utils


def crf_available() -> bool:
    try:
        _densecrf()
    except CrfNotInstalledError:
        return False
    return True


def get_preset(preset) -> CrfParams:
    if isinstance(preset, CrfParams):
        return preset
    if preset not in PRESETS:
        raise ConfigError(f"unknown CRF preset {preset!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[preset]


def _check_image(image: np.ndarray, shape) -> np.ndarray:
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[:2] != tuple(shape):
        raise ConfigError(f"CRF image {image.shape} does not match the map size {tuple(shape)} "
                          "(pydensecrf needs an HxWx3 uint8 image)")
    return image


def dense_crf_probs(image: np.ndarray, probs: np.ndarray, preset="psa", iterations: Optional[int] = None,
                    scale_factor: float = 1.0) -> np.ndarray:
    """Mean-field dense CRF on class probabilities [C, H, W] (softmax unary); returns Q [C, H, W] float32.

    ``scale_factor`` divides both spatial standard deviations, as PSA's ``crf_inference`` does.
    """
    dcrf, utils = _densecrf()
    p = get_preset(preset)
    probs = np.ascontiguousarray(probs, dtype=np.float32)
    c, h, w = probs.shape
    image = _check_image(image, (h, w))
    d = dcrf.DenseCRF2D(w, h, c)
    d.setUnaryEnergy(np.ascontiguousarray(utils.unary_from_softmax(probs)))
    d.addPairwiseGaussian(sxy=p.gauss_sxy / scale_factor, compat=p.gauss_compat)
    d.addPairwiseBilateral(sxy=p.bi_sxy / scale_factor, srgb=p.bi_srgb, rgbim=np.copy(image), compat=p.bi_compat)
    q = d.inference(p.iterations if iterations is None else int(iterations))
    return np.asarray(q, dtype=np.float32).reshape((c, h, w))


def dense_crf_labels(image: np.ndarray, labels: np.ndarray, n_labels: int, preset="irn",
                     iterations: Optional[int] = None) -> np.ndarray:
    """Dense CRF with a label unary (IRN ``crf_inference_label``); returns the argmax label map [H, W]."""
    dcrf, utils = _densecrf()
    p = get_preset(preset)
    labels = np.ascontiguousarray(labels)
    h, w = labels.shape
    image = _check_image(image, (h, w))
    d = dcrf.DenseCRF2D(w, h, n_labels)
    unary = utils.unary_from_labels(labels, n_labels, gt_prob=p.gt_prob, zero_unsure=False)
    d.setUnaryEnergy(np.ascontiguousarray(unary))
    d.addPairwiseGaussian(sxy=p.gauss_sxy, compat=p.gauss_compat)
    d.addPairwiseBilateral(sxy=p.bi_sxy, srgb=p.bi_srgb, rgbim=np.copy(image), compat=p.bi_compat)
    q = d.inference(p.iterations if iterations is None else int(iterations))
    return np.argmax(np.asarray(q).reshape((n_labels, h, w)), axis=0)

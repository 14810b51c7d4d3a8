"""EPS pseudo masks (``eps_voc``, ``eps_base_voc``, ``eps_coco``, ``eps_base_coco``): EPS ``infer.py --cam_png``.

Mask = argmax over [constant background ``bg_threshold`` (0.20), max-normalised CAMs]; ties go to
background. No random walk and no saliency at inference.

``crf=True`` (not part of infer.py, whose ``--crf`` branch crashes): the dCRF of the EPS README
("bi_w 4, bi_xy_std 67, bi_rgb_std 3, pos_w 3, pos_xy_std 1", 10 iterations: preset ``deeplab`` of
:mod:`wsss_zoo.crf`), used by the authors only to compare pseudo masks "with dCRF"; it is run on the
same [threshold; CAMs] stack as softmax-style scores and the mask is the argmax of the CRF marginals.
"""
from __future__ import annotations

import numpy as np

from ..crf import dense_crf_probs
from . import settings as S
from .base import Pipeline, compute_cam, register_pipeline
from .cam import label_keys, threshold_argmax, with_background_plane


def crf_argmax(image: np.ndarray, scores: np.ndarray, keys: np.ndarray, preset: str, iterations=None) -> np.ndarray:
    """Label map ``keys[argmax(CRF(scores))]`` from unnormalised scores [K+1, H, W] (background first)."""
    q = dense_crf_probs(image, scores, preset=preset, iterations=iterations)
    return keys[np.argmax(q, axis=0)]


@register_pipeline("eps")
class EpsPipeline(Pipeline):
    """EPS / EPS-Base CAMs thresholded against a constant background (``settings["bg_threshold"]``)."""

    SETTINGS = {"bg_threshold": S.fraction("constant background score in front of the normalised CAMs")}

    def _cam(self, image, ids):
        return compute_cam(self.models["cam"], image, ids)

    def _pseudo_mask(self, image, ids, *, saliency=None, crf=False):
        cams = self._cam(image, ids).numpy()
        bg = float(self.settings["bg_threshold"])
        if not crf:
            return threshold_argmax(cams, ids, bg)
        return crf_argmax(image, with_background_plane(cams, bg), label_keys(ids), self.entry.crf.preset,
                          self.entry.crf.iterations)

"""AffinityNet random-walk pseudo masks (``cda_psa_voc``, ``cda_seam_voc``, ``sbnet_voc``): ``infer_aff.py``.

Steps (PSA ``infer_aff.py``; SEAM's copy, used verbatim by SBNet, differs only in defaults and ``--crf``):

1. CAMs of the ``cam`` network (its own CAM recipe), present classes only;
2. background score ``(1 - max over the C foreground maps, absent ones counting 0) ** alpha``;
3. the normalised image and the [bg; cams] stack are zero-padded right/bottom to a multiple of 8;
4. AffinityNet pair affinities on the stride-8 grid -> shared random walk ``v T^(2^logt)`` with
   ``T = colnorm(A^beta)``, applied to the 8x8 average-pooled stack;
5. bilinear upsampling (align_corners=False) to the padded size, argmax, crop.

Defaults (checkpoints.json ``settings``): PSA alpha 16, beta 8, logt 8; SEAM/SBNet alpha 6.0, beta 8, logt 6.
``crf=True`` is SEAM/SBNet ``infer_aff.py --crf``: one mean-field iteration of PSA's ``crf_inference``
(preset ``psa``) on the upsampled walk scores of all C+1 channels, with the de-normalised padded
image (float32 ``(x*std + mean)*255``, clipped, truncated to uint8). PSA's ``infer_aff.py`` has no CRF.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..classes import num_classes
from ..crf import dense_crf_probs
from .base import Pipeline, model_device, register_pipeline, run_cam
from .cam import IMAGENET_MEAN, IMAGENET_STD, normalize_imagenet
from .random_walk import random_walk

STRIDE = 8


def padded_size(height: int, width: int, multiple: int = STRIDE) -> Tuple[int, int]:
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def pad_right_bottom(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Zero-pad the last two dimensions on the right and bottom to ``size``."""
    return F.pad(x, (0, size[1] - x.shape[-1], 0, size[0] - x.shape[-2]))


def with_background(cams: np.ndarray, alpha, n_classes: int) -> np.ndarray:
    """[bg; cams] float32 with ``bg = (1 - max_c cam_c) ** alpha`` over all ``n_classes`` maps.

    Upstream fills absent classes with 0 before the max, so the max is never below 0 unless every
    class is present.
    """
    cams = np.asarray(cams, dtype=np.float32)
    peak = cams.max(axis=0)
    if cams.shape[0] < n_classes:
        peak = np.maximum(peak, np.float32(0))
    bg = (1 - peak) ** alpha
    return np.concatenate([bg[None].astype(np.float32), cams])


def denormalize_to_uint8(x: torch.Tensor) -> np.ndarray:
    """SEAM ``infer_aff.py --crf`` image: HWC float32 ``(x*std + mean)*255``, clipped to [0, 255], truncated."""
    img = np.ascontiguousarray(x.detach().cpu().numpy().transpose(1, 2, 0), dtype=np.float32)
    for c in range(3):
        img[:, :, c] = (img[:, :, c] * IMAGENET_STD[c] + IMAGENET_MEAN[c]) * 255
    return np.clip(img, 0, 255).astype(np.uint8)


@torch.inference_mode()
def random_walk_scores(aff_model, image: np.ndarray, scores: np.ndarray, beta, logt, mode: str = "sparse"):
    """Random-walked class scores [K+1, Hp, Wp] (padded size) and the padded normalised image [3, Hp, Wp]."""
    h, w = image.shape[:2]
    hp, wp = padded_size(h, w)
    device = model_device(aff_model)
    x = pad_right_bottom(normalize_imagenet(image), (hp, wp)).to(device)
    n, src, dst, values, grid = aff_model.affinity_graph(x[None])
    pooled = F.avg_pool2d(pad_right_bottom(torch.from_numpy(scores), (hp, wp)), STRIDE, STRIDE)
    if tuple(pooled.shape[1:]) != tuple(grid):
        raise RuntimeError(f"internal error: CAM grid {tuple(pooled.shape[1:])} vs affinity grid {grid}")
    walked = random_walk(pooled.reshape(pooled.shape[0], -1).to(device), n, src, dst, values, beta, logt, mode=mode)
    walked = walked.view(1, -1, *grid)
    return F.interpolate(walked, (hp, wp), mode="bilinear", align_corners=False)[0], x


def affinity_label_map(aff_model, image: np.ndarray, cams: np.ndarray, ids: Sequence[int], n_classes: int, *,
                       alpha, beta, logt, crf: bool = False, crf_preset: str = "psa", crf_iterations: int = 1,
                       mode: str = "sparse") -> np.ndarray:
    """The random-walk pseudo mask uint8 [H, W] (0 background, class ids) from normalised CAMs [K, H, W]."""
    h, w = image.shape[:2]
    scores = with_background(cams, alpha, n_classes)
    walked, x = random_walk_scores(aff_model, image, scores, beta, logt, mode)
    walked = walked.float().cpu().numpy()
    if crf:  # upstream runs the CRF on all C+1 channels, absent ones being zero
        full = np.zeros((n_classes + 1,) + walked.shape[1:], np.float32)
        full[[0] + list(ids)] = walked
        q = dense_crf_probs(denormalize_to_uint8(x), full, preset=crf_preset, iterations=crf_iterations)
        return np.argmax(q, axis=0)[:h, :w].astype(np.uint8)
    keys = np.asarray([0] + list(ids), dtype=np.uint8)
    return keys[np.argmax(walked[:, :h, :w], axis=0)]


@register_pipeline("affinity")
class AffinityPipeline(Pipeline):
    """CAM network (role ``cam``) + AffinityNet (role ``aff``) random walk, PSA/SEAM ``infer_aff.py``."""

    def _cam(self, image, ids):
        return run_cam(self.models["cam"], image, ids)

    def _pseudo_mask(self, image, ids, *, saliency=None, crf=False):
        cams = self._cam(image, ids).numpy()
        crf_cfg = self.entry.get("crf") or {}
        return affinity_label_map(
            self.models["aff"], image, cams, ids, num_classes(self.dataset),
            alpha=self.settings["alpha"], beta=self.settings["beta"], logt=self.settings["logt"],
            crf=crf, crf_preset=crf_cfg.get("preset", "psa"), crf_iterations=crf_cfg.get("iterations", 1),
            mode=self.settings.get("random_walk_mode", "sparse"))

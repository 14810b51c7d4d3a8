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
from ..precision import forward_context, input_memory_format
from ..registry import Preprocess
from . import settings as S
from .base import Pipeline, compute_cam, model_entry_of, register_pipeline
from ..finite import check_finite
from .cam import label_keys, model_device, network_name, with_background_plane
from .preprocess import IMAGENET, normalize
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
    return with_background_plane(cams, (1 - peak) ** alpha)


def denormalize_to_uint8(x: torch.Tensor, pre: Preprocess = IMAGENET) -> np.ndarray:
    """SEAM ``infer_aff.py --crf`` image: HWC float32 ``(x*std + mean)*255``, clipped to [0, 255], truncated."""
    img = np.ascontiguousarray(x.detach().cpu().numpy().transpose(1, 2, 0), dtype=np.float32)
    mean, std = pre.denormalize_rgb()
    for c in range(3):
        img[:, :, c] = (img[:, :, c] * std[c] + mean[c]) * pre.scale
    return np.clip(img, 0, 255).astype(np.uint8)


@torch.inference_mode()
def random_walk_scores(aff_model, image: np.ndarray, scores: np.ndarray, beta, logt, mode: str = "sparse",
                       pre: Preprocess = IMAGENET):
    """Random-walked class scores [K+1, Hp, Wp] (padded size) and the padded normalised image [3, Hp, Wp]."""
    h, w = image.shape[:2]
    hp, wp = padded_size(h, w)
    device = model_device(aff_model)
    x = pad_right_bottom(normalize(image, pre), (hp, wp)).to(device)
    with forward_context(aff_model):  # the pair affinities themselves are computed in float32
        feat = aff_model.embed(x[None].contiguous(memory_format=input_memory_format(aff_model)))
    check_finite(feat, f"the affinity features of {network_name(aff_model)}")
    n, src, dst, values, grid = aff_model.graph_of(feat.float())
    pooled = F.avg_pool2d(pad_right_bottom(torch.from_numpy(scores), (hp, wp)), STRIDE, STRIDE)
    if tuple(pooled.shape[1:]) != tuple(grid):
        raise RuntimeError(f"internal error: CAM grid {tuple(pooled.shape[1:])} vs affinity grid {grid}")
    walked = random_walk(pooled.reshape(pooled.shape[0], -1).to(device), n, src, dst, values, beta, logt, mode=mode)
    walked = walked.view(1, -1, *grid)
    return F.interpolate(walked, (hp, wp), mode="bilinear", align_corners=False)[0], x


def affinity_label_map(aff_model, image: np.ndarray, cams: np.ndarray, ids: Sequence[int], n_classes: int, *,
                       alpha, beta, logt, crf: bool = False, crf_preset: str = "psa", crf_iterations: int = 1,
                       mode: str = "sparse", pre: Preprocess = IMAGENET) -> np.ndarray:
    """The random-walk pseudo mask uint8 [H, W] (0 background, class ids) from normalised CAMs [K, H, W]."""
    h, w = image.shape[:2]
    scores = with_background(cams, alpha, n_classes)
    walked, x = random_walk_scores(aff_model, image, scores, beta, logt, mode, pre)
    walked = walked.float().cpu().numpy()
    keys = label_keys(ids)
    if crf:  # upstream runs the CRF on all C+1 channels, absent ones being zero
        full = np.zeros((n_classes + 1,) + walked.shape[1:], np.float32)
        full[keys] = walked
        q = dense_crf_probs(denormalize_to_uint8(x, pre), full, preset=crf_preset, iterations=crf_iterations)
        return np.argmax(q, axis=0)[:h, :w].astype(np.uint8)
    return keys[np.argmax(walked[:, :h, :w], axis=0)]


@register_pipeline("affinity")
class AffinityPipeline(Pipeline):
    """CAM network (role ``cam``) + AffinityNet (role ``aff``) random walk, PSA/SEAM ``infer_aff.py``."""

    SETTINGS = {
        "alpha": S.number("background score (1 - max CAM) ** alpha", 0, 1000, exclusive_minimum=True),
        "beta": S.number("exponent of the affinities in the random walk", 0, 100, exclusive_minimum=True),
        "logt": S.integer("the walk runs 2**logt steps", 0, 12),
        "random_walk_mode": S.choice("'sparse' (fast, same linear map) or 'dense' (upstream order)",
                                     "sparse", "dense"),
    }

    def _cam(self, image, ids):
        return compute_cam(self.models["cam"], image, ids)

    def _pseudo_mask(self, image, ids, *, saliency=None, crf=False):
        cams = self._cam(image, ids).numpy()
        preset = self.entry.crf.preset if self.entry.crf else "psa"
        iterations = (self.entry.crf.iterations if self.entry.crf else None) or 1
        aff = self.models["aff"]
        return affinity_label_map(
            aff, image, cams, ids, num_classes(self.dataset), alpha=self.settings["alpha"],
            beta=self.settings["beta"], logt=self.settings["logt"], crf=crf, crf_preset=preset,
            crf_iterations=iterations, mode=self.settings.get("random_walk_mode", "sparse"),
            pre=model_entry_of(aff).preprocess)

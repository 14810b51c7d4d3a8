"""IRN's CAM, IR-label and random-walk steps (CDA-IRNet and RIB pseudo masks).

Each step is a function on arrays/tensors, as the upstream scripts of jiwoon-ahn/irn (copied by CDA
and RIB) are steps:

* :func:`irn_cam_maps` -- ``step/make_cam.py``: scales (1.0, 0.5, 1.5, 2.0), each with its flip in one
  batch; ``relu`` of the bias-free classifier map, flip pair **summed** at stride 16; bilinear to the
  stride-4 size ``ceil(H/4) x ceil(W/4)`` (``cam``) and to the multiple-of-16 size then cropped to
  ``H x W`` (``high_res``), summed over scales; image classes only; each map divided by its max + 1e-5;
* :func:`cam_to_ir_label` -- ``step/cam_to_ir_label.py``: confident fg/bg seeds through the "irn" CRF;
* :func:`propagate_to_edge` -- ``misc/indexing.propagate_to_edge``: affinities ``1 - max edge`` along
  radius-5 paths on the edge map padded with 1, cropped back to ``h x w``; ``x (1 - edge) T^(2^8)``
  with the shared sparse random walk;
* :func:`random_walk_labels` -- ``step/make_sem_seg_labels.py``: x4 upsample, crop, **global** max
  normalisation, constant background threshold, argmax.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..crf import dense_crf_labels
from ..finite import check_finite
from ..models.resnet50_irn import folded_batchnorm
from ..precision import forward_context
from . import settings as S
from .base import Pipeline, model_entry_of, register_cam_recipe, register_pipeline
from .cam import (CamRecipe, class_rows, fuse_passes, label_keys, max_normalize, model_device, multiscale_cam,
                  network_name, resize_maps, threshold_argmax, with_background_plane, with_flip)
from .path_index import PathIndex, edge_to_affinity
from .preprocess import normalize
from .random_walk import random_walk

IRN_CAM_SCALES = (1.0, 0.5, 1.5, 2.0)


class CamMaps(NamedTuple):
    """IRN's saved CAM pair: ``strided`` (K, ceil(H/4), ceil(W/4)) and ``high_res`` (K, H, W), normalised."""

    strided: torch.Tensor
    high_res: torch.Tensor


def strided_size(size: Sequence[int], stride: int) -> Tuple[int, int]:
    """``((H - 1) // s + 1, (W - 1) // s + 1)`` (IRN ``imutils.get_strided_size``)."""
    return (int(size[0]) - 1) // stride + 1, (int(size[1]) - 1) // stride + 1


def strided_up_size(size: Sequence[int], stride: int) -> Tuple[int, int]:
    """The size rounded up to a multiple of ``stride`` (IRN ``imutils.get_strided_up_size``)."""
    h, w = strided_size(size, stride)
    return h * stride, w * stride


def irn_pass_maps(logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """IRN ``make_cam``'s per-pass map: ``relu`` of the bias-free classifier map of the classes ``rows``."""
    return F.relu(logits).index_select(1, rows)


def _to_strided(maps, size, options):
    return resize_maps(maps, strided_size(size, 4))


def _to_high_res(maps, size, options):
    """Resized to the multiple-of-16 size, then cropped to H x W (not resized to H x W)."""
    return resize_maps(maps, strided_up_size(size, 16))[..., :int(size[0]), :int(size[1])]


IRN_CAM = register_cam_recipe(CamRecipe(
    "irn", pass_maps=lambda model, x, rows: irn_pass_maps(model.cam_logits(x), rows),
    targets=(("strided", _to_strided), ("high_res", _to_high_res)), unflip="before", fusion="stacked_sum",
    normalize=max_normalize, output="high_res", channels_last=True,  # same values, ~2x faster on CPU
    context=lambda model: folded_batchnorm(getattr(model, "resnet50", model)),
    doc="IRN step/make_cam.py (CDA, RIB): scales (1.0, 0.5, 1.5, 2.0) + flips; relu(cam logits), flip pair "
        "summed at stride 16; per scale resized to the stride-4 size and to the multiple-of-16 size (cropped); "
        "stacked sum over scales; each map / (max + 1e-5)"))


def aggregate_cams(maps: Sequence[torch.Tensor], size: Sequence[int], ids: Sequence[int]) -> CamMaps:
    """Fuse per-scale flip-summed maps [C, h_s, w_s] of all classes as IRN ``make_cam`` / RIB ``save_npy`` do."""
    rows = torch.as_tensor(class_rows(ids), dtype=torch.long, device=maps[0].device)
    out = fuse_passes([m.index_select(0, rows)[None] for m in maps], IRN_CAM, (int(size[0]), int(size[1])),
                      flip=False)
    return CamMaps(out["strided"], out["high_res"])


def irn_cam_maps(model, image: np.ndarray, ids: Sequence[int], scales: Sequence[float] = IRN_CAM_SCALES,
                 flip: bool = True, pre=None) -> CamMaps:
    """IRN ``make_cam`` for one image: normalised stride-4 and full-resolution CAMs of classes ``ids``."""
    pre = pre if pre is not None else model_entry_of(model).preprocess
    out = multiscale_cam(model, image, ids, IRN_CAM, scales=scales, flip=flip, pre=pre)
    return CamMaps(out["strided"], out["high_res"])


# --------------------------------------------------------------------------- IR labels
def cam_to_ir_label(image: np.ndarray, high_res, ids: Sequence[int], conf_fg_thres: float = 0.30,
                    conf_bg_thres: float = 0.05) -> np.ndarray:
    """IRN ``cam_to_ir_label``: uint8 [H, W] with class ids, 0 (confident background) and 255 (ignore).

    Each threshold is a constant background plane in front of the normalised ``high_res`` CAMs;
    the argmax goes through the dense CRF (preset "irn": label unary gt_prob 0.7, 10 iterations).
    A class comes from the ``conf_fg_thres`` map; background needs both maps to agree.
    """
    cams = np.asarray(high_res.cpu() if torch.is_tensor(high_res) else high_res, dtype=np.float32)
    keys = label_keys(ids, np.int64)

    def seeds(thres):
        index = np.argmax(with_background_plane(cams, thres), axis=0)
        return keys[dense_crf_labels(image, index, n_labels=len(keys), preset="irn")]

    fg, bg = seeds(conf_fg_thres), seeds(conf_bg_thres)
    conf = fg.copy()
    conf[fg == 0] = 255
    conf[fg + bg == 0] = 0
    return conf.astype(np.uint8)


# --------------------------------------------------------------------------- random walk
def edge_pairs(edge: torch.Tensor, radius: int = 5):
    """Pairs (src, dst) of the h x w grid and their affinity, as IRN's cropped dense matrix holds them.

    The edge map is padded with 1.0 (left, right and bottom by ``radius``); affinities are computed
    on that grid with :class:`PathIndex` and only pairs with both ends inside the original h x w
    region are kept (upstream crops the dense matrix to it).
    """
    edge = edge.reshape(edge.shape[-2:])
    h, w = edge.shape
    padded = F.pad(edge[None, None], (radius, radius, 0, radius), mode="constant", value=1.0)[0, 0]
    index = PathIndex(radius, padded.shape)
    aff = edge_to_affinity(padded[None], index.path_indices)[0]
    width = padded.shape[1]
    src = torch.from_numpy(np.broadcast_to(index.src_indices, index.dst_indices.shape).reshape(-1)).to(edge.device)
    dst = torch.from_numpy(index.dst_indices.reshape(-1)).to(edge.device)
    aff = aff.reshape(-1)

    def to_inner(flat):
        row, col = flat // width, flat % width - radius
        return row, col, (row < h) & (col >= 0) & (col < w)

    sr, sc, s_in = to_inner(src)
    dr, dc, d_in = to_inner(dst)
    keep = s_in & d_in
    return (sr * w + sc)[keep], (dr * w + dc)[keep], aff[keep]


def propagate_to_edge(cams: torch.Tensor, edge: torch.Tensor, beta: float = 10, exp_times: int = 8,
                      radius: int = 5, mode: str = "sparse") -> torch.Tensor:
    """IRN random walk of stride-4 CAMs [K, h, w] on the edge map (1, h, w): ``x (1 - edge) T^(2^exp_times)``."""
    k, h, w = cams.shape
    src, dst, aff = edge_pairs(edge, radius)
    x = (cams * (1 - edge.reshape(1, h, w))).reshape(k, h * w)
    return random_walk(x, h * w, src, dst, aff, beta=beta, logt=exp_times, mode=mode).view(k, h, w)


def random_walk_labels(rw: torch.Tensor, size: Sequence[int], ids: Sequence[int], bg_thres: float) -> np.ndarray:
    """``make_sem_seg_labels`` post-processing: x4 bilinear, crop, global max, bg plane, argmax -> uint8 ids."""
    height, width = int(size[0]), int(size[1])
    up = F.interpolate(rw[:, None], scale_factor=4, mode="bilinear", align_corners=False)[:, 0, :height, :width]
    peak = up.max()
    up = up / peak if peak > 0 else torch.zeros_like(up)
    return threshold_argmax(up.cpu().numpy(), ids, bg_thres)


# --------------------------------------------------------------------------- pipeline
IRN_SETTINGS = {
    "beta": S.number("exponent of the affinities in the random walk", 0, 100, exclusive_minimum=True),
    "exp_times": S.integer("the walk runs 2**exp_times steps", 0, 12),
    "radius": S.integer("search radius of the pair affinities on the stride-4 grid", 1, 20),
    "sem_seg_bg_thres": S.fraction("background threshold on the globally max-normalised walked CAMs"),
    "cam_power": S.number("power applied to the strided CAMs before the walk (RIB 1.3)", 0, 10,
                          exclusive_minimum=True),
    "conf_fg_thres": S.fraction("IR labels: foreground seed threshold"),
    "conf_bg_thres": S.fraction("IR labels: background seed threshold"),
    "irn_crop_size": S.integer("IRNet input padded to this square size (None: no padding, RIB COCO)", 16, 4096,
                               nullable=True),
}


@register_pipeline("irn")
class IrnPipeline(Pipeline):
    """CAM -> IRNet edge map -> random walk -> label map (CDA ``cda_irn_voc``; base of RIB's pipeline).

    Settings (checkpoints.json, overridable in :func:`wsss_zoo.load_pipeline`): see ``SETTINGS``.
    """

    SETTINGS = IRN_SETTINGS

    def cam_maps(self, image: np.ndarray, ids) -> CamMaps:
        model = self.models["cam"]
        spec = model_entry_of(model).inference.cam
        return irn_cam_maps(model, image, ids, spec.scales if spec else IRN_CAM_SCALES, True)

    def _cam(self, image, ids):
        return self.cam_maps(image, ids).high_res

    def edge(self, image: np.ndarray) -> torch.Tensor:
        """IRNet class-boundary map (1, ceil(H/4), ceil(W/4)) of the image (EdgeDisplacement)."""
        irn = self.models["irn"]
        pair = with_flip(normalize(image, model_entry_of(irn).preprocess)).to(model_device(irn))
        with forward_context(irn):
            edge, _ = irn.edge_displacement(pair, crop_size=self.settings.get("irn_crop_size", 512),
                                            with_displacement=False)
        check_finite(edge, f"the boundary map of {network_name(irn)}")
        return edge

    def ir_label(self, image, labels) -> np.ndarray:
        """Confident seeds for IRNet training (``cam_to_ir_label``) with this pipeline's thresholds."""
        from ..inputs import load_image, parse_labels

        img = load_image(image)
        ids = parse_labels(labels, self.dataset)
        with torch.inference_mode():
            high_res = self.cam_maps(img, ids).high_res
        return cam_to_ir_label(img, high_res, ids, self.settings["conf_fg_thres"], self.settings["conf_bg_thres"])

    def _pseudo_mask(self, image, ids, *, saliency=None, crf=False):
        s = self.settings
        cams = self.cam_maps(image, ids).strided
        power = float(s.get("cam_power", 1.0))
        if power != 1.0:
            cams = cams.pow(power)
        edge = self.edge(image).to(cams.device)
        rw = propagate_to_edge(cams, edge, beta=s["beta"], exp_times=int(s["exp_times"]), radius=int(s.get("radius", 5)))
        return random_walk_labels(rw, image.shape[:2], ids, float(s["sem_seg_bg_thres"]))

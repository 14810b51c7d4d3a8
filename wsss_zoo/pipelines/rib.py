"""RIB's per-image CAM procedure (jbeomlee93/RIB ``obtain_RIB_CAM.py`` / ``obtain_RIB_CAM_coco.py``).

For each target image, starting from the published classifier (never modified here):

1. step t = 0..steps-1 with an auxiliary batch of ``batch_size`` random crops of images that share
   no class with the target (``VOC12RIBDataset``: long side uniform in [320, 640], bicubic, flip,
   512 crop padded with 0);
2. the target at scales (1.0, 0.5, 1.5, 2.0), each with its flip, gives raw logit maps; their ReLU
   flip-summed maps are **accumulated** per scale (the CAM of the model *before* this step's update);
3. from step 1 on, stop if the scale-1.0 maps of the target classes, max-normalised and thresholded
   at ``explode_th``, cover more than ``explode_ratio`` of the grid (scale 1.0 is already added);
4. loss = ``-sum(y * GNDRP(logits))`` over the target rows at scales 1.0/1.5/2.0 (image and flip)
   and the auxiliary rows, no sigmoid; one SGD step on layer3, layer4 and the classifier (lr,
   10x lr; momentum = weight decay = 1e-4, upstream's ``PolyOptimizer`` quirk; poly 0.9 over
   ``steps``); stop if ``|sum of the target rows|`` exceeds ``stop_th``;
5. the accumulated maps are fused like IRN ``make_cam`` (the ``irn`` recipe of the one CAM loop,
   :func:`~wsss_zoo.pipelines.cam.fuse_passes`).

GNDRP pools each positive class over its "non-discriminative" pixels only (logit / max logit <
``score_th``, on detached values) but divides by all pixels; upstream masks only classes 0..19
(``gndrp_classes=20``, also on COCO). Randomness comes from one ``torch.Generator`` (``seed``).

:class:`RibPipeline` is the IRN pipeline with this procedure in place of the plain CAM.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import warnings
from pathlib import Path
from typing import List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import ConfigError, DatasetError
from ..inputs import load_image, parse_labels
from ..registry import Preprocess, model_entry
from ..safe_pickle import load_npy_dict
from . import settings as S
from .base import register_pipeline
from .cam import class_rows, fuse_flip, fuse_passes, model_device, pass_inputs
from .irn import IRN_CAM, IRN_CAM_SCALES, IRN_SETTINGS, CamMaps, IrnPipeline, irn_pass_maps
from .preprocess import IMAGENET, normalize, pil_rescale

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


# --------------------------------------------------------------------------- the negative pool
def _label_ids(labels, dataset: str) -> Tuple[int, ...]:
    """Segmentation ids of an image's labels; an all-zero vector or empty list means no class."""
    if labels is None:
        return ()
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels) if not isinstance(labels, str) else None
    if arr is not None and arr.dtype != object and (arr.size == 0 or (arr.ndim == 1 and not arr.any())):
        return ()
    return tuple(parse_labels(labels, dataset))


class ImagePool:
    """Images with image-level labels: the pool RIB draws its auxiliary (negative) crops from.

    ``images`` are paths or HxWx3 uint8 arrays (read only when drawn); ``labels`` one label spec per
    image (ids, class names or a multi-hot vector; empty for an image without classes).
    """

    def __init__(self, images: Sequence, labels: Sequence, dataset: str = "voc"):
        if len(images) != len(labels):
            raise DatasetError(f"ImagePool: {len(images)} images but {len(labels)} label entries")
        self.dataset = dataset
        self.images = list(images)
        self.ids = [_label_ids(lab, dataset) for lab in labels]

    def __len__(self):
        return len(self.images)

    def __repr__(self):
        return f"ImagePool({len(self)} images, dataset={self.dataset!r})"

    def image(self, index: int) -> np.ndarray:
        return load_image(self.images[index])

    def disjoint_from(self, ids: Sequence[int]) -> List[int]:
        """Indices of images sharing no class with ``ids`` (upstream ``find_disjoint_class_images``)."""
        target = set(ids)
        return [i for i, own in enumerate(self.ids) if not target.intersection(own)]

    @classmethod
    def from_folder(cls, folder, labels, dataset: str = "voc") -> "ImagePool":
        """Every image file in ``folder`` that has an entry in ``labels``.

        ``labels``: a mapping from file name stem to labels, or the path of an upstream
        ``cls_labels.npy`` (pickled dict, integer keys: "2007_000032" -> 2007000032, COCO ids).
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise DatasetError(f"negative pool folder not found: {folder}")
        table = _read_label_table(labels)
        images, labs = [], []
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            key = _lookup_key(table, path.stem)
            if key is not None:
                images.append(path)
                labs.append(table[key])
        if not images:
            raise DatasetError(f"no image in {folder} has an entry in the label table "
                               "(keys are file stems, or upstream cls_labels.npy integer ids)")
        return cls(images, labs, dataset)

    @classmethod
    def from_dataset(cls, data, dataset: str = "voc") -> "ImagePool":
        """A dataset-like object: ``len(data)`` and ``data[i] -> (image, labels)``.

        Labels are read once here (``data.labels[i]`` when it exists, else ``data[i][1]``); images
        are fetched from ``data`` only when drawn.
        """
        n = len(data)
        table = getattr(data, "labels", None)
        labels = [table[i] for i in range(n)] if table is not None else [data[i][1] for i in range(n)]
        return cls([_DatasetImage(data, i) for i in range(n)], labels, dataset)


@dataclasses.dataclass(frozen=True)
class _DatasetImage:
    data: object
    index: int

    def __array__(self, dtype=None, copy=None):
        image = load_image(self.data[self.index][0])
        return image if dtype is None else image.astype(dtype)


def _read_label_table(labels) -> Mapping:
    if isinstance(labels, Mapping):
        return labels
    if isinstance(labels, (str, os.PathLike)):
        path = Path(labels)
        if not path.is_file():
            raise DatasetError(f"label file not found: {path}")
        if path.suffix == ".npy":
            return load_npy_dict(path, error=DatasetError, what="label table")
        import json

        with open(path, encoding="utf-8") as f:
            return json.load(f)
    raise DatasetError("labels must be a mapping {file stem: labels} or the path of cls_labels.npy / a JSON file")


def _lookup_key(table: Mapping, stem: str):
    if stem in table:
        return stem
    digits = stem.replace("_", "")
    if digits.isdigit() and int(digits) in table:
        return int(digits)
    return None


def as_image_pool(negatives, dataset: str) -> ImagePool:
    """Accept an :class:`ImagePool`, ``(folder, labels)`` or a dataset-like object."""
    if isinstance(negatives, ImagePool):
        return negatives
    if isinstance(negatives, tuple) and len(negatives) == 2 and isinstance(negatives[0], (str, os.PathLike)):
        return ImagePool.from_folder(negatives[0], negatives[1], dataset)
    if isinstance(negatives, (str, os.PathLike)):
        raise ConfigError("a folder of negatives needs its labels: pass (folder, labels) with labels a mapping "
                          "{file stem: labels} or the path of cls_labels.npy, or an ImagePool")
    if hasattr(negatives, "__len__") and hasattr(negatives, "__getitem__"):
        return ImagePool.from_dataset(negatives, dataset)
    raise ConfigError(f"negatives must be an ImagePool, (folder, labels) or a dataset yielding (image, labels); "
                      f"got {type(negatives).__name__}")


# --------------------------------------------------------------------------- auxiliary crops
def _randint(gen: torch.Generator, low: int, high: int) -> int:
    """Uniform integer in [low, high] (both included)."""
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def random_crop_sample(image: np.ndarray, gen: torch.Generator, resize_long=(320, 640), crop_size: int = 512,
                       pre: Preprocess = IMAGENET) -> torch.Tensor:
    """One auxiliary sample as ``VOC12RIBDataset`` makes it: 3 x crop x crop, zero padded (normalised)."""
    h, w = image.shape[:2]
    target = _randint(gen, int(resize_long[0]), int(resize_long[1]))
    image = pil_rescale(image, target / (h if w < h else w))
    x = normalize(image, pre)
    if _randint(gen, 0, 1):
        x = x.flip(-1)
    h, w = x.shape[-2:]
    out = torch.zeros(3, crop_size, crop_size)
    ch, cw = min(crop_size, h), min(crop_size, w)
    cont_top, img_top = (0, _randint(gen, 0, h - crop_size)) if h > crop_size else (_randint(gen, 0, crop_size - h), 0)
    cont_left, img_left = (0, _randint(gen, 0, w - crop_size)) if w > crop_size else (_randint(gen, 0, crop_size - w), 0)
    out[:, cont_top:cont_top + ch, cont_left:cont_left + cw] = x[:, img_top:img_top + ch, img_left:img_left + cw]
    return out


# --------------------------------------------------------------------------- pooling and the procedure
def gndrp(logits: torch.Tensor, positives: torch.Tensor, score_th: float, masked_classes: int = 20) -> torch.Tensor:
    """GNDRP pooling of logit maps (N, C, h, w) -> (N, C) (RIB ``misc/torchutils.gndp2d``).

    For positive classes among the first ``masked_classes``, only pixels with
    ``logit / max logit < score_th`` (detached, no epsilon) are summed; all other classes are plain
    GAP. The sum is divided by all h*w pixels.
    """
    n, c = logits.shape[:2]
    with torch.no_grad():
        norm = torch.zeros_like(logits)
        head = norm[:, :masked_classes]
        pos = positives[:, :masked_classes].to(torch.bool)
        peak = logits[:, :masked_classes].amax(dim=(2, 3), keepdim=True)
        head.copy_(torch.where(pos[:, :, None, None], logits[:, :masked_classes] / peak, torch.full_like(head, -1.0)))
        keep = norm < score_th
    return (logits * keep).reshape(n, c, -1).mean(-1)


@dataclasses.dataclass
class RibCamResult:
    """Output of :func:`rib_cam` with ``return_details=True``."""

    high_res: torch.Tensor  # (K, H, W), normalised
    strided: torch.Tensor  # (K, ceil(H/4), ceil(W/4)), normalised
    steps: int  # number of CAMs summed (models theta_0 .. theta_{steps-1})
    stopped_by: str  # "steps", "explode", "logit" or "pool" (fewer disjoint images than needed)


def _rib_entry(model):
    """The model's entry when it carries RIB settings, else the published RIB entry of its class count."""
    entry = getattr(model, "wsss_zoo_entry", None)
    if entry is None or entry.inference.procedure("rib") is None:
        n_classes = getattr(model, "num_classes", 20)
        entry = model_entry("rib_resnet50_coco" if n_classes == 80 else "rib_resnet50_voc")
    return entry


def rib_settings(model, overrides: dict) -> Tuple[dict, str, Preprocess]:
    """(procedure settings, dataset, preprocessing) for ``model``: its entry's ``inference.rib`` + ``overrides``."""
    entry = _rib_entry(model)
    settings = dict(entry.inference.procedure("rib"))
    settings["scales"] = tuple(entry.inference.cam.scales if entry.inference.cam else IRN_CAM_SCALES)
    unknown = set(overrides) - set(settings)
    if unknown:
        raise ConfigError(f"unknown rib_cam option(s) {sorted(unknown)}; options: {sorted(settings)}")
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return settings, entry.dataset, entry.preprocess


def _working_copy(model):
    """A trainable copy: layer3, layer4 and the classifier learn; stem, layer1, layer2 are frozen
    (upstream: requires_grad off for conv1/bn1, detach after layer2 for the rest)."""
    work = copy.deepcopy(model)
    work.train()
    for p in work.parameters():
        p.requires_grad_(False)
    for module in (work.resnet50.layer3, work.resnet50.layer4, work.classifier):
        for p in module.parameters():
            p.requires_grad_(True)
    return work


def _exploded(cam: torch.Tensor, th: float, ratio: float) -> bool:
    """Union over target classes of (map / (max + 1e-5) > th) covers more than ``ratio`` of the grid."""
    peak = cam.flatten(1).amax(1).view(-1, 1, 1)
    covered = ((cam / (peak + 1e-5)) > th).any(0)
    return covered.sum().item() / covered.shape[0] / covered.shape[1] > ratio


def rib_cam(model, image, labels, negatives, *, steps: Optional[int] = None, seed: Optional[int] = None,
            generator: Optional[torch.Generator] = None, return_details: bool = False, **options):
    """RIB's CAM of one image: up to ``steps`` fine-tuning steps of a copy of ``model``, CAMs summed.

    ``model``: an IRN ResNet-50 classifier from ``wsss_zoo.load("rib_resnet50_voc"|"rib_resnet50_coco")``
    (any ``resnet50_irn_cam`` network works; defaults then follow its class count). It is not modified.
    ``negatives``: an :class:`ImagePool`, ``(folder, labels)``, or a dataset yielding ``(image, labels)``;
    only images sharing no class with ``labels`` are used. ``seed``/``generator`` make the draws
    reproducible. Other options (defaults from checkpoints.json ``inference.rib``): ``lr``,
    ``batch_size``, ``crop_size``, ``resize_long``, ``loss_scales``, ``score_th``, ``gndrp_classes``,
    ``stop_th``, ``explode_th``, ``explode_ratio``, ``weight_decay``, ``momentum``, ``poly_power``,
    ``classifier_lr_mult``, ``scales``.

    Returns the normalised full-resolution CAMs (K, H, W) like :func:`wsss_zoo.cam`, or a
    :class:`RibCamResult` with ``return_details=True``. Needs gradients: it works inside
    ``torch.inference_mode`` too (re-enabled locally). Slow on CPU (a backward pass through layer3/4
    for ~26 images per step).
    """
    settings, dataset, pre = rib_settings(model, dict(options, steps=steps))
    img = load_image(image)
    ids = parse_labels(labels, dataset)
    pool = as_image_pool(negatives, dataset)
    result = rib_procedure(model, img, ids, pool, settings, pre, generator or seeded_generator(seed))
    return result if return_details else result.high_res


def seeded_generator(seed: Optional[int]) -> torch.Generator:
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return generator


def rib_procedure(model, img: np.ndarray, ids, pool: ImagePool, s: dict, pre: Preprocess,
                  gen: torch.Generator) -> RibCamResult:
    """The procedure on validated inputs (see :func:`rib_cam`); gradients are enabled inside."""
    with torch.inference_mode(False), torch.enable_grad():
        return _rib_steps(model, img, ids, pool, s, pre, gen)


def _rib_steps(model, img: np.ndarray, ids, pool: ImagePool, s: dict, pre: Preprocess,
               gen: torch.Generator) -> RibCamResult:
    device = model_device(model)
    n_classes = model.classifier.weight.shape[0]
    batch, n_steps = int(s["batch_size"]), int(s["steps"])
    candidates = pool.disjoint_from(ids)
    usable = min(n_steps, len(candidates) // batch)
    if usable < 1:
        raise ConfigError(
            f"RIB needs at least batch_size={batch} negative images sharing no class with the target; the pool "
            f"has {len(candidates)} of {len(pool)}. Give a larger pool (RIB draws from the whole training set) "
            "or a smaller batch_size")
    order = [candidates[i] for i in torch.randperm(len(candidates), generator=gen).tolist()]

    work = _working_copy(model)
    lr, wd = float(s["lr"]), float(s["weight_decay"])
    groups = [{"params": [p for p in work.resnet50.parameters() if p.requires_grad], "lr": lr, "weight_decay": wd},
              {"params": list(work.classifier.parameters()), "lr": lr * float(s["classifier_lr_mult"]),
               "weight_decay": wd}]
    base_lrs = [g["lr"] for g in groups]
    opt = torch.optim.SGD(groups, lr=lr, momentum=float(s["momentum"]))

    scales = tuple(float(x) for x in s["scales"])
    loss_scales = {float(x) for x in s["loss_scales"]}
    cl = torch.channels_last  # same values, faster convolutions on CPU
    targets = [(sc, pair.to(device).contiguous(memory_format=cl))
               for sc, pair in pass_inputs(img, IRN_CAM, scales, True, pre, {})]
    target_rows = torch.as_tensor(class_rows(ids), dtype=torch.long, device=device)
    y = torch.zeros(n_classes, device=device)
    y[target_rows] = 1.0

    sums: List[torch.Tensor] = []
    done, stopped = 0, "steps" if usable == n_steps else "pool"
    for t in range(usable):
        rows, row_labels = [], []
        exploded = False
        for k, (sc, pair) in enumerate(targets):
            with torch.set_grad_enabled(sc in loss_scales):
                logits = work.cam_logits(pair)
            cam = fuse_flip(irn_pass_maps(logits.detach(), target_rows))  # IRN make_cam's per-pass map
            if t == 0:
                sums.append(cam)
            else:
                sums[k] = sums[k] + cam
            if t > 0 and k == 0 and _exploded(cam[0], s["explode_th"], s["explode_ratio"]):
                exploded = True
                break
            if sc in loss_scales:
                rows.append(gndrp(logits, y.expand(2, -1), s["score_th"], int(s["gndrp_classes"])))
                row_labels.append(y.expand(2, -1))
        if exploded:
            done, stopped = t, "explode"  # this step's scale-1.0 map is in the sum; upstream does the same
            break
        n_target_rows = sum(r.shape[0] for r in rows)
        picked = order[t * batch:(t + 1) * batch]
        aux = torch.stack([random_crop_sample(pool.image(i), gen, s["resize_long"], int(s["crop_size"]), pre)
                           for i in picked]).to(device).contiguous(memory_format=cl)
        aux_y = torch.zeros(batch, n_classes, device=device)
        for r, i in enumerate(picked):
            aux_y[r, class_rows(pool.ids[i])] = 1.0
        rows.append(gndrp(work.cam_logits(aux), aux_y, s["score_th"], int(s["gndrp_classes"])))
        row_labels.append(aux_y)
        scores = torch.cat(rows) * torch.cat(row_labels)
        loss = -scores.sum()
        target_score = scores[:n_target_rows].sum().item()

        opt.zero_grad()
        loss.backward()
        mult = (1 - t / n_steps) ** float(s["poly_power"])
        for g, base in zip(opt.param_groups, base_lrs):
            g["lr"] = base * mult
        opt.step()
        done = t + 1
        if abs(target_score) > float(s["stop_th"]):
            stopped = "logit"
            break
    maps = fuse_passes([m.cpu() for m in sums], IRN_CAM, (int(img.shape[0]), int(img.shape[1])), flip=False)
    return RibCamResult(maps["high_res"], maps["strided"], done, stopped)


# --------------------------------------------------------------------------- the pipeline
@register_pipeline("rib")
class RibPipeline(IrnPipeline):
    """RIB pseudo masks (``rib_voc``, ``rib_coco``): IRN's pipeline with RIB's per-image CAM procedure.

    Extra settings: ``negatives`` (the auxiliary image pool: an :class:`ImagePool`, ``(folder, labels)`` or a
    dataset), ``seed``, ``rib`` (overrides of :func:`rib_cam` options) and ``cam_procedure`` (``"rib"``, or
    ``"plain"`` for the classifier's plain multi-scale CAM, RIB's step 0).
    """

    SETTINGS = dict(IRN_SETTINGS, **{
        "cam_procedure": S.choice("'rib': per-image fine-tuning; 'plain': the classifier's CAM (step 0)",
                                  "rib", "plain"),
        "negatives": S.python_object("auxiliary image pool: ImagePool, (folder, labels) or a dataset"),
        "seed": S.integer("seed of the auxiliary draws (None: random)", 0, 2 ** 63 - 1, nullable=True),
        "rib": S.python_object("overrides of rib_cam options, e.g. {'steps': 5}"),
    })
    _warned_plain = False

    def __init__(self, entry, models, settings=None, device="cpu"):
        super().__init__(entry, models, settings, device)
        overrides = self.settings.get("rib") or {}
        if not isinstance(overrides, dict):
            raise ConfigError(f"{self.name} setting rib must be a dict of rib_cam options, got {type(overrides).__name__}")
        self.procedure, _, self.pre = rib_settings(self.models["cam"], dict(overrides))
        negatives = self.settings.get("negatives")
        self.pool = as_image_pool(negatives, self.dataset) if negatives is not None else None

    def cam_maps(self, image: np.ndarray, ids) -> CamMaps:
        if self.settings.get("cam_procedure", "rib") == "rib":
            if self.pool is not None:
                gen = seeded_generator(self.settings.get("seed"))
                res = rib_procedure(self.models["cam"], image, ids, self.pool, self.procedure, self.pre, gen)
                return CamMaps(res.strided, res.high_res)
            if not self._warned_plain:
                self._warned_plain = True
                warnings.warn(
                    f"{self.name}: no negatives pool given, so the RIB per-image fine-tuning is skipped and the "
                    "classifier's plain multi-scale CAM (RIB step 0) is used; pass negatives=ImagePool(...) to "
                    "wsss_zoo.load_pipeline for RIB's CAMs", stacklevel=3)
        return super().cam_maps(image, ids)

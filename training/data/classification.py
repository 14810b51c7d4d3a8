"""Image-level training sets: classification (IRN / PSA / DRS pipelines), CDA's paste augmentation,
EPS's image + saliency pairs and SBNet's image + boundary-map pairs."""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from wsss_zoo.errors import DatasetError
from wsss_zoo.inputs import label_vector, load_image
from wsss_zoo.safe_pickle import load_npy_dict

from .. import transforms as T
from .sources import Item, ItemDataset


# ------------------------------------------------------------------------------------ pipelines
def augment_irn(img: np.ndarray, p: dict) -> torch.Tensor:
    """IRN/CDA/RIB ``VOC12ClassificationDataset``: resize_long, normalise, flip, random crop (pad 0)."""
    img = T.random_resize_long(img, *p["resize_long"])
    img = T.imagenet_hwc(img)
    (img,) = T.random_hflip(img)
    (img,) = T.random_crop([img], p["crop"], [0.0])
    return T.to_chw(img)


def augment_psa(img: np.ndarray, p: dict) -> torch.Tensor:
    """PSA/SEAM/EPS-Base ``train_cls``: RandomResizeLong, flip, ColorJitter, normalise, RandomCrop (pad 0)."""
    img = T.random_resize_long(img, *p["resize_long"])
    (img,) = T.random_hflip(img)
    img = T.imagenet_hwc(T.color_jitter(img))
    (img,) = T.random_crop([img], p["crop"], [0.0])
    return T.to_chw(img)


def augment_drs(img: np.ndarray, p: dict) -> torch.Tensor:
    """DRS ``train_data_loader``: square resize (bilinear), flip, ColorJitter, RandomCrop, normalise."""
    img = T.resize_square(img, p["resize"])
    (img,) = T.random_hflip(img)
    img = T.color_jitter(img)
    (img,) = T.random_crop([img], p["crop"], [0])
    return T.to_chw(T.imagenet_hwc(img))


PIPELINES = {"irn": augment_irn, "psa": augment_psa, "drs": augment_drs}


# ------------------------------------------------------------------------------------ CDA bank
class InstanceBank:
    """CDA's object bank: ``<dir>/<class index 0..C-1>/<id>.npy`` dicts ``{'img': HxWx3 uint8, 'seg': HxW}``
    (``step/make_aug_fg.py``; written by the ``cda_object_bank_voc`` prep recipe)."""

    def __init__(self, folder, n_classes: int):
        self.folder = Path(folder)
        self.files: Dict[int, List[str]] = {}
        for c in range(n_classes):
            d = self.folder / str(c)
            self.files[c] = sorted(os.listdir(d)) if d.is_dir() else []
        if not any(self.files.values()):
            raise FileNotFoundError(f"the object bank {self.folder} is empty")

    def draw(self, present: np.ndarray) -> Optional[Tuple[int, np.ndarray, np.ndarray]]:
        """An instance of a class absent from the image (class uniform over the absent classes that have
        instances, then a uniform file; ``np.random`` like upstream); None when there is none."""
        absent = [c for c in np.flatnonzero(present == 0) if self.files.get(int(c))]
        if not absent:
            return None
        c = int(np.random.choice(absent))
        pack = load_npy_dict(self.folder / str(c) / np.random.choice(self.files[c]), error=DatasetError,
                             what="object bank file")
        return c, np.asarray(pack["img"], np.uint8), np.asarray(pack["seg"], np.uint8)


# ------------------------------------------------------------------------------------ datasets
class ClassificationData(ItemDataset):
    """(image, multi-hot label) with one of :data:`PIPELINES`; with a ``bank``, also CDA's pasted copy
    (``aug_img``, ``aug_label``), each copy going through the pipeline with its own random draws."""

    def __init__(self, items: Sequence[Item], dataset: str, pipeline: str, params: dict,
                 bank: Optional[InstanceBank] = None):
        super().__init__(items, dataset, params)
        self.bank, self.augment = bank, PIPELINES[pipeline]

    def __getitem__(self, i):
        item = self.items[i]
        img = load_image(item.image, exif=False)
        label = label_vector(item.labels, self.dataset)
        out = {"img": self.augment(img, self.params), "label": torch.from_numpy(label)}
        if self.bank is not None:
            drawn = self.bank.draw(label)
            aug, aug_label = img, label.copy()
            if drawn is not None:
                c, fg_img, fg_seg = drawn
                aug = T.paste_instance(img, fg_img, fg_seg)
                aug_label[c] = 1
            out["aug_img"] = self.augment(aug, self.params)
            out["aug_label"] = torch.from_numpy(aug_label)
        return out


class SaliencyData(ItemDataset):
    """EPS ``ClassificationDatasetWithSaliency``: one long side for image and saliency (both bicubic), joint
    flip, ColorJitter on the image, normalise, saliency / 255, joint random crop (0 padding = not salient)."""

    def __init__(self, items: Sequence[Item], dataset: str, saliency_paths: Sequence[str], params: dict):
        super().__init__(items, dataset, params)
        self.sal = list(saliency_paths)

    def __getitem__(self, i):
        item, p = self.items[i], self.params
        img = load_image(item.image, exif=False)
        sal = load_image(self.sal[i], exif=False)  # grey PNG -> 3 equal channels, as .convert("RGB")
        target_long = random.randint(*p["resize_long"])
        img, sal = T.resize_long(img, target_long), T.resize_long(sal, target_long)
        if random.random() > 0.5:
            img, sal = np.ascontiguousarray(img[:, ::-1]), np.ascontiguousarray(sal[:, ::-1])
        img = T.imagenet_hwc(T.color_jitter(img))
        sal = (sal / 255.0).astype(np.float32)
        img, sal = T.random_crop([img, sal], p["crop"], [0.0, 0.0])
        sal = T.to_chw(sal).mean(dim=0, keepdim=True)
        return {"img": T.to_chw(img), "saliency": sal, "label": self.label(item)}


class BoundaryData(ItemDataset):
    """SBNet ``voc12/data_BD`` + ``tool/myutils_20``: image and its 21 x H x W boundary map ``<id>.npy``,
    long-side resize (image bicubic, map cubic spline), joint flip, ColorJitter + normalise, joint crop."""

    def __getitem__(self, i):
        item, p = self.items[i], self.params
        img = load_image(item.image, exif=False)
        bmap = np.load(self.dir / f"{item.id}.npy").astype(np.float32)
        img = T.random_resize_long(img, *p["resize_long"])
        bmap = T.resize_spline_maps(bmap, img.shape[:2])
        if random.random() > 0.5:
            img, bmap = np.ascontiguousarray(img[:, ::-1]), np.ascontiguousarray(bmap[:, :, ::-1])
        img = T.imagenet_hwc(T.color_jitter(img))
        img, bmap = T.random_crop([img, bmap], p["crop"], [0.0, 0.0], channels_first=(False, True))
        return {"img": T.to_chw(img), "boundary": torch.from_numpy(bmap), "label": self.label(item)}

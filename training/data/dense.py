"""Pixel-level training sets: AffinityNet (la/ha CRF dicts), IRNet (IR labels), the DRS refinement
network (localisation maps) and DeepLab-V2 / V3+ (pseudo label PNGs)."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from wsss_zoo.data.io import read_label_png
from wsss_zoo.errors import DatasetError
from wsss_zoo.inputs import load_image
from wsss_zoo.pipelines.preprocess import CAFFE_MEAN_BGR
from wsss_zoo.safe_pickle import load_npy_dict

from .. import transforms as T
from ..losses.affinity import hard_affinity_label
from .sources import Item, ItemDataset

AFF_STRIDE = 8


def read_score_dict(path) -> np.ndarray:
    """A CRF score dict ``{0: bg, k+1: ...}`` (PSA/SEAM ``infer_*.py --out_crf``) as H x W x K in dict order."""
    d = load_npy_dict(path, error=DatasetError, what="CRF score file")
    return np.stack([np.asarray(v, np.float32) for v in d.values()], axis=-1)


class AffinityData(ItemDataset):
    """PSA/SEAM/SBNet ``VOC12AffDataset``: ColorJitter, joint random crop of image and stacked la|ha scores,
    normalise, joint flip, 8x8 block means of the scores, then the la/ha hard label on the stride-8 grid.

    ``pad_black`` (upstream): the crop container is filled before normalisation (black padding, zero scores).
    """

    def __init__(self, items: Sequence[Item], la_dir, ha_dir, params: dict, pad_black: bool = True):
        super().__init__(items, params=params)
        self.la, self.ha = Path(la_dir), Path(ha_dir)
        self.crop, self.pad_black = int(params["crop"]), pad_black

    def __getitem__(self, i):
        item = self.items[i]
        img = T.color_jitter(load_image(item.image, exif=False))
        la, ha = read_score_dict(self.la / f"{item.id}.npy"), read_score_dict(self.ha / f"{item.id}.npy")
        k = la.shape[-1]
        scores = np.concatenate([la, ha], axis=-1)
        if self.pad_black:
            img, scores = T.random_crop([img.astype(np.float32), scores], self.crop, [0.0, 0.0])
            img = T.imagenet_hwc(np.clip(img, 0, 255).astype(np.uint8))
        else:
            img, scores = T.random_crop([T.imagenet_hwc(img), scores], self.crop, [0.0, 0.0])
        img, scores = T.random_hflip(img, scores)
        scores = T.block_mean(scores, AFF_STRIDE)
        label = hard_affinity_label(scores[..., :k], scores[..., k:])
        return {"img": T.to_chw(img), "aff_label": torch.tensor(label)}


class IrLabelData(ItemDataset):
    """IRN ``VOC12AffinityDataset``: random rescale (image bicubic, label nearest), normalise, joint flip,
    random crop (image 0, label 255), label downscaled x0.25 (nearest) to the stride-4 grid."""

    def __getitem__(self, i):
        item, p = self.items[i], self.params
        label = read_label_png(self.dir / f"{item.id}.png")
        img, label = T.random_rescale(load_image(item.image, exif=False), label, *p["rescale"])
        img, label = T.random_hflip(T.imagenet_hwc(img), label)
        img, label = T.random_crop([img, label], p["crop"], [0.0, 255])
        return {"img": T.to_chw(img), "ir_label": torch.tensor(T.nearest_rescale(label, 0.25))}


class TopLeftCropData(ItemDataset):
    """IRN ``VOC12ImageDataset(crop_method='top_left')``: the images used for the mean displacement."""

    def __getitem__(self, i):
        crop = int(self.params["crop"])
        return {"img": T.to_chw(T.top_left_crop(T.imagenet_hwc(load_image(self.items[i].image, exif=False)), crop, 0.0))}


class LocalizationMapData(ItemDataset):
    """DRS ``LoadData_refine``: image resized to a square (bilinear), ColorJitter, joint flip with the uint8
    localisation maps (C x S x S), normalise, maps / 255 keeping only the per-pixel arg-max channel(s)."""

    def __getitem__(self, i):
        item = self.items[i]
        img = T.color_jitter(T.resize_square(load_image(item.image, exif=False), int(self.params["size"])))
        maps = np.load(self.dir / f"{item.id}.npy")
        if random.random() < 0.5:
            img, maps = np.ascontiguousarray(img[:, ::-1]), np.ascontiguousarray(maps[:, :, ::-1])
        maps = torch.from_numpy(maps.astype(np.float32) / 255.0)
        maps = maps * (maps == maps.max(dim=0, keepdim=True).values).float()
        return {"img": T.to_chw(T.imagenet_hwc(img)), "target": maps}


class KazutoSegmentationData(ItemDataset):
    """kazuto1011 ``VOCAug`` (DRS fork): BGR float image, random scale from a list (cv2 linear / PIL nearest,
    ``int()`` sizes), bottom/right padding to the crop (mean colour / 255), random crop, flip, mean
    subtraction; plus DRS's 21-d class vector (background always 1)."""

    def __getitem__(self, i):
        item, p = self.items[i], self.params
        image = load_image(item.image, exif=False)[:, :, ::-1].astype(np.float32)  # cv2.imread: BGR
        label = read_label_png(self.dir / f"{item.id}.png")
        s = random.choice(p["scales"])
        size = (int(label.shape[0] * s), int(label.shape[1] * s))
        image = T.resize_float_linear(image, size)
        label = T.pil_resize(label, size, "nearest")
        mean = np.asarray(CAFFE_MEAN_BGR, np.float32)
        image, label = T.pad_bottom_right(image, label, p["crop"], mean, 255)
        image, label = T.random_window(image, label, p["crop"])
        if random.random() < 0.5:
            image, label = image[:, ::-1], label[:, ::-1]
        image = np.ascontiguousarray(image) - mean
        cls = torch.cat([torch.ones(1), self.label(item)])
        return {"img": T.to_chw(image.astype(np.float32)), "seg_label": torch.tensor(np.ascontiguousarray(label)),
                "cls_vector": cls}


class VainFSegmentationData(ItemDataset):
    """VainF ``main.py`` train transform: ExtRandomScale, ExtRandomCrop(pad_if_needed), flip, ToTensor+Normalize."""

    def __init__(self, items: Sequence[Item], label_dir, params: dict, label_pad: int = 0):
        super().__init__(items, params=params, folder=label_dir)
        self.label_pad = label_pad

    def __getitem__(self, i):
        item, p = self.items[i], self.params
        image, label = T.vainf_scale(load_image(item.image, exif=False), read_label_png(self.dir / f"{item.id}.png"), *p["scale"])
        image, label = T.vainf_crop(image, label, p["crop"], self.label_pad)
        if random.random() < 0.5:
            image, label = image[:, ::-1], label[:, ::-1]
        return {"img": T.to_chw(T.imagenet_hwc(np.ascontiguousarray(image))),
                "seg_label": torch.tensor(np.ascontiguousarray(label))}

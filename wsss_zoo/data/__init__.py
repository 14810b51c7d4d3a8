"""Dataset readers (PASCAL VOC 2012 + SBD, COCO 2014), output file formats and dataset-wide generation.

>>> import wsss_zoo
>>> ds = wsss_zoo.open_dataset("voc", "/data/VOCdevkit/VOC2012", "train")   # = wsss_zoo.data.open_dataset
>>> s = ds.sample(ds.ids[0]); s.labels, ds.gt(s.id).shape
>>> report = wsss_zoo.generate(ds, wsss_zoo.load_pipeline("eps_voc"), "pseudo-mask", "out/eps_train")

(``wsss_zoo.generate`` is :func:`wsss_zoo.data.generate.generate`; the name ``wsss_zoo.data.generate`` is
the module.)

Guide with a runnable example: docs/datasets.md.
"""
from __future__ import annotations

from ..errors import DatasetError
from .base import Sample, SegmentationDataset, load_cls_labels, read_id_list
from .coco import COCODataset
from .io import read_cam_npy, read_label_png, write_cam_npy, write_label_png
from .voc import VOCDataset, parse_voc_xml

DATASETS = {"voc": VOCDataset, "coco": COCODataset}


def open_dataset(dataset: str, root, split: str = "train", **options) -> SegmentationDataset:
    """Open a split of ``dataset`` ("voc" or "coco") under ``root``; options go to the reader class."""
    try:
        cls = DATASETS[dataset]
    except KeyError:
        raise DatasetError(f"unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}") from None
    return cls(root, split, **options)


__all__ = ["COCODataset", "DATASETS", "Sample", "SegmentationDataset", "VOCDataset", "load_cls_labels", "open_dataset",
           "parse_voc_xml", "read_cam_npy", "read_id_list", "read_label_png", "write_cam_npy", "write_label_png"]

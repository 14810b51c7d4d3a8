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


def add_dataset_arguments(parser, *, roots_required: bool = True, split_required: bool = True) -> None:
    """The dataset options shared by ``eval``, ``pseudo-mask``, ``cam`` and ``segment``.

    ``parser`` may be an argument group. With ``roots_required=False`` (the generation commands, whose
    CLI also accepts plain image folders) the check that a root was given moves to :func:`dataset_from_args`.
    """
    roots = parser.add_mutually_exclusive_group(required=roots_required)
    roots.add_argument("--voc-root", metavar="DIR", help="VOCdevkit/VOC2012 (JPEGImages, Annotations, "
                       "SegmentationClass[Aug], ImageSets)")
    roots.add_argument("--coco-root", metavar="DIR", help="COCO 2014 root in the EPS or RIB layout")
    parser.add_argument("--split", default=None, required=split_required,
                        help="train | val | trainval | train_aug (VOC); train | val (COCO)")
    parser.add_argument("--split-file", metavar="LIST", help="image list to use instead of the split's")
    parser.add_argument("--cls-labels", metavar="NPY", help="upstream cls_labels.npy to take image labels from "
                        "(default: VOC Annotations/*.xml; COCO annotations json or GT masks)")
    parser.add_argument("--coco-layout", choices=("auto", "eps", "rib"), default="auto",
                        help="COCO folder layout (default: detected)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="use only the first N images")


def dataset_from_args(args, **options) -> SegmentationDataset:
    """Open the dataset named by :func:`add_dataset_arguments` options (``--limit`` applied)."""
    common = {"split_file": getattr(args, "split_file", None), "cls_labels": getattr(args, "cls_labels", None)}
    common.update(options)
    if not getattr(args, "voc_root", None) and not getattr(args, "coco_root", None):
        raise DatasetError("give the dataset root: --voc-root DIR (VOCdevkit/VOC2012) or --coco-root DIR")
    split = getattr(args, "split", None) or "train"
    if getattr(args, "voc_root", None):
        ds = open_dataset("voc", args.voc_root, split, **common)
    else:
        common.setdefault("layout", getattr(args, "coco_layout", "auto"))
        common.pop("gt", None)
        ds = open_dataset("coco", args.coco_root, split, **common)
    limit = getattr(args, "limit", None)
    if limit is not None:
        if limit < 1:
            raise DatasetError("--limit must be a positive number of images")
        ds = ds.subset(ds.ids[:limit])
    return ds


__all__ = ["COCODataset", "DATASETS", "Sample", "SegmentationDataset", "VOCDataset", "add_dataset_arguments",
           "dataset_from_args", "load_cls_labels", "open_dataset", "parse_voc_xml", "read_cam_npy",
           "read_id_list", "read_label_png", "write_cam_npy", "write_label_png"]

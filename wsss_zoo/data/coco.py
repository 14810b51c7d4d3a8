"""MS-COCO 2014 reader in the two layouts the methods use (foundations.md 10.4, eps.md 8.2, rib.md 7.4).

Segmentation ids are contiguous: 0 background, 1..80 the thing classes in ascending COCO category
id (:data:`wsss_zoo.classes.COCO_CATEGORY_IDS`), 255 ignore; masks and outputs are 81-way.

* ``layout="eps"`` (EPS ``metadata/coco``): images ``<root>/train2014/COCO_train2014_<12 digits>.jpg``,
  GT ``<root>/SegmentationClass/train2014/<id>.png``, ids ``COCO_train2014_000000000009``, saliency
  ``<root>/SALImages/<id>.png``. EPS's ``train.txt`` lists the 82,081 train2014 images with at least one
  object; without a list file the same set is derived (images with a GT mask and a label).
* ``layout="rib"`` (RIB ``coco14``): images ``<root>/JPEGImages/<12 digits>.jpg`` (train and val
  together), GT ``<root>/coco_seg_anno/<id>.png``, ids ``000000000009``; lists ``train14.txt`` (82,783)
  and ``val14.txt`` (40,504), all images including the class-less ones.

Image-level labels: a given ``cls_labels`` file (EPS: string keys; RIB ``cls_labels_coco.npy``:
integer image ids), else ``<root>/annotations/instances_<split>2014.json`` (every annotation counts),
else the classes present in the GT mask.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ..classes import coco_category_to_contiguous
from ..errors import DatasetError
from ..fileio import read_text_utf8
from .base import SegmentationDataset, first_existing, read_id_list
from .io import read_label_png

COCO_LAYOUTS = ("eps", "rib")
COCO_SPLIT_SIZES = {"eps": {"train": 82081, "val": 40137}, "rib": {"train": 82783, "val": 40504}}
_SPLITS = {"train": "train", "train14": "train", "train2014": "train", "val": "val", "val14": "val",
           "val2014": "val"}


def detect_coco_layout(root: Path) -> str:
    eps = (root / "SegmentationClass").is_dir() or any((root / f"{s}2014").is_dir() for s in ("train", "val"))
    rib = (root / "coco_seg_anno").is_dir() or (root / "JPEGImages").is_dir()
    if eps and not rib:
        return "eps"
    if rib and not eps:
        return "rib"
    if eps and rib:
        raise DatasetError(f"{root} holds both the EPS layout (train2014/, SegmentationClass/) and the RIB "
                           "layout (JPEGImages/, coco_seg_anno/); pass --coco-layout eps|rib")
    raise DatasetError(
        f"{root} is not a COCO 2014 root: expected train2014/ + SegmentationClass/train2014/ (EPS layout) or "
        "JPEGImages/ + coco_seg_anno/ (RIB layout)")


class COCODataset(SegmentationDataset):
    """A split (``train``/``val``) of COCO 2014 in the EPS or RIB layout (see module docstring)."""

    name = "coco"
    num_classes = 81

    def __init__(self, root, split: str = "train", *, layout: str = "auto", split_file=None, cls_labels=None,
                 annotations=None):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DatasetError(f"--coco-root {self.root} does not exist")
        if split not in _SPLITS and not split_file:
            raise DatasetError(f"unknown COCO split {split!r}; use train or val (or --split-file LIST)")
        self.split = split
        self.part = _SPLITS.get(split, "train")  # train2014 or val2014
        self.layout = detect_coco_layout(self.root) if layout == "auto" else layout
        if self.layout not in COCO_LAYOUTS:
            raise DatasetError(f"unknown COCO layout {layout!r}; choose one of {COCO_LAYOUTS}")
        super().__init__(cls_labels)
        self._annotations_path = Path(annotations).expanduser() if annotations else self._find_annotations()
        self._ann_labels: Optional[Dict[int, List[int]]] = None
        self._ann_ids: Optional[List[int]] = None
        if split_file:
            self.ids, self.list_path = read_id_list(split_file), Path(split_file)
        else:
            self.list_path = first_existing(self._split_candidates())
            self.ids = read_id_list(self.list_path) if self.list_path else self._derive_ids()

    # splits ------------------------------------------------------------------------------------
    def _split_candidates(self) -> List[Path]:
        r, p = self.root, self.part
        if self.layout == "eps":
            return [r / f"{p}.txt", r / "metadata" / "coco" / f"{p}.txt"]
        return [r / f"{p}14.txt", r / "coco14" / f"{p}14.txt"]

    def _find_annotations(self) -> Optional[Path]:
        return first_existing([self.root / "annotations" / f"instances_{self.part}2014.json",
                               self.root.parent / "annotations" / f"instances_{self.part}2014.json"])

    def _derive_ids(self) -> List[str]:
        if self.layout == "eps":
            img_dir, gt_dir = self.root / f"{self.part}2014", self.root / "SegmentationClass" / f"{self.part}2014"
            if not img_dir.is_dir():
                raise DatasetError(f"{img_dir} not found; the EPS layout keeps images in <root>/{self.part}2014/")
            ids = sorted(p.stem for p in img_dir.glob("*.jpg") if (gt_dir / f"{p.stem}.png").is_file())
            ids = [i for i in ids if self.labels(i)]  # EPS lists only images with at least one object
        else:
            if self._annotations_path is None:
                looked = ", ".join(str(p) for p in self._split_candidates())
                raise DatasetError(
                    f"cannot tell {self.part} images apart in {self.root / 'JPEGImages'} (train and val share it): "
                    f"put the RIB list at one of {looked}, give --split-file, or provide "
                    f"annotations/instances_{self.part}2014.json")
            self._load_annotations()
            ids = [f"{i:012d}" for i in sorted(self._ann_ids)]
        if not ids:
            raise DatasetError(f"no {self.part} images with ground truth found under {self.root}")
        return ids

    # paths -------------------------------------------------------------------------------------
    def image_path(self, image_id: str) -> Path:
        if self.layout == "eps":
            return self.root / f"{self.part}2014" / f"{image_id}.jpg"
        return self.root / "JPEGImages" / f"{image_id}.jpg"

    def gt_path(self, image_id: str) -> Path:
        if self.layout == "eps":
            return self.root / "SegmentationClass" / f"{self.part}2014" / f"{image_id}.png"
        return self.root / "coco_seg_anno" / f"{image_id}.png"

    def default_saliency_dirs(self):
        return (self.root / "SALImages", self.root / "saliency_map")

    # labels ------------------------------------------------------------------------------------
    @staticmethod
    def image_number(image_id: str) -> int:
        m = re.search(r"(\d+)$", image_id)
        if not m:
            raise DatasetError(f"{image_id!r} is not a COCO image id (12-digit number, optionally prefixed)")
        return int(m.group(1))

    def _load_annotations(self) -> None:
        if self._ann_labels is not None:
            return
        path = self._annotations_path
        try:
            data = json.loads(read_text_utf8(path, DatasetError, "COCO annotation file"))
            to_contiguous = coco_category_to_contiguous()
            labels: Dict[int, set] = {img["id"]: set() for img in data.get("images", [])}
            for ann in data.get("annotations", []):
                cat = to_contiguous.get(ann["category_id"])
                if cat is not None:
                    labels.setdefault(ann["image_id"], set()).add(cat)
        except (ValueError, RecursionError, KeyError, TypeError, AttributeError) as exc:
            raise DatasetError(f"{path} is not a COCO instances annotation file ({type(exc).__name__}: "
                               f"{str(exc)[:150]}); give instances_<split>2014.json") from None
        self._ann_ids = list(labels)
        self._ann_labels = {k: sorted(v) for k, v in labels.items()}

    def _labels_from_source(self, image_id: str) -> List[int]:
        if self._annotations_path is not None:
            self._load_annotations()
            num = self.image_number(image_id)
            if num not in self._ann_labels:
                raise DatasetError(f"{image_id} is not in {self._annotations_path}")
            return self._ann_labels[num]
        mask = read_label_png(self.gt_path(image_id))
        values = np.unique(mask)
        return [int(v) for v in values if 0 < v < self.num_classes]

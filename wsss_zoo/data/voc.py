"""PASCAL VOC 2012 + SBD (``SegmentationClassAug``) reader (foundations.md section 10.1-10.2).

Layout: ``VOCdevkit/VOC2012/{JPEGImages, Annotations, SegmentationClass, SegmentationClassAug,
ImageSets/Segmentation/{train,val,trainval}.txt}``; ``--voc-root`` may name ``VOC2012``, ``VOCdevkit``
or their parent. Splits: ``train`` (1,464), ``val`` (1,449), ``trainval`` (2,913), ``train_aug``
(10,582) and any list file. Image-level labels come from the ``<object><name>`` tags of
``Annotations/<id>.xml`` (PSA ``voc12/make_cls_labels.py``: every object counts, difficult and
truncated included) or from a given ``cls_labels.npy`` (PSA string keys or IRN integer keys).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import List, Optional

from ..classes import VOC_CLASSES
from ..errors import DatasetError
from .base import SegmentationDataset, first_existing, read_id_list, read_list_labels

#: Split sizes of the full dataset (foundations.md section 9); checked loosely (a warning-free subset is fine).
VOC_SPLIT_SIZES = {"train": 1464, "val": 1449, "trainval": 2913, "train_aug": 10582}
GT_FOLDERS = ("SegmentationClass", "SegmentationClassAug")
_NAME_TO_ID = {name: i for i, name in enumerate(VOC_CLASSES) if i > 0}


def find_voc_root(root) -> Path:
    """The ``VOC2012`` folder (the one holding ``JPEGImages``) under ``root``."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"--voc-root {root} does not exist")
    candidates = [root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"]
    for cand in candidates:
        if (cand / "JPEGImages").is_dir():
            return cand
    raise DatasetError(
        f"no JPEGImages folder under {root} (looked in {', '.join(str(c) for c in candidates)}); "
        "--voc-root must point at VOCdevkit/VOC2012, the folder with JPEGImages, Annotations and SegmentationClass")


def parse_voc_xml(path) -> List[int]:
    """Segmentation ids (1..20) named by the objects of a VOC annotation XML.

    Like PSA's ``load_image_label_from_xml``, every ``<name>`` that is a VOC class counts (objects,
    difficult or truncated, alike); part names (head, hand, foot) and owner names are not classes.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"annotation not found: {path}; give --cls-labels FILE (cls_labels.npy) instead")
    try:
        tree = ET.parse(path)
    except Exception as exc:  # noqa: BLE001 - ParseError, unknown encodings (LookupError, ValueError), OSError
        raise DatasetError(f"cannot parse {path}: {exc}") from None
    ids = {_NAME_TO_ID[el.text.strip()] for el in tree.iter("name") if el.text and el.text.strip() in _NAME_TO_ID}
    return sorted(ids)


class VOCDataset(SegmentationDataset):
    """A split of PASCAL VOC 2012 (+SBD).

    ``gt``: ``"SegmentationClass"`` (palette PNGs, IRN/SEAM/VainF evaluation), ``"SegmentationClassAug"``
    (grey PNGs, EPS/DRS/kazuto), a folder path, or ``"auto"`` (SegmentationClass when it exists and
    the split is not ``train_aug``). ``split_file`` overrides the list of ``split``.
    """

    name = "voc"
    num_classes = 21

    def __init__(self, root, split: str = "train", *, gt: str = "auto", split_file=None, cls_labels=None):
        self.root = find_voc_root(root)
        self.split = split
        super().__init__(cls_labels)
        list_path = Path(split_file).expanduser() if split_file else self._find_split_list(split)
        self._list_labels = {}
        if list_path is None:
            self.ids = self._derive_train_aug()
            self.list_path = None
        else:
            self.ids = read_id_list(list_path)
            self._list_labels = read_list_labels(list_path)
            self.list_path = list_path
        self.gt_dir = self._resolve_gt(gt)

    # splits ------------------------------------------------------------------------------------
    def _split_candidates(self, split: str) -> List[Path]:
        r = self.root
        return [r / "ImageSets" / "Segmentation" / f"{split}.txt",
                r / "ImageSets" / "SegmentationAug" / f"{split}.txt",
                r / f"{split}.txt", r.parent / f"{split}.txt", r.parent.parent / f"{split}.txt"]

    def _find_split_list(self, split: str) -> Optional[Path]:
        if Path(split).suffix == ".txt":
            raise DatasetError(f"--split {split!r} looks like a file; pass it as --split-file")
        found = first_existing(self._split_candidates(split))
        if found is not None:
            return found
        if split == "train_aug" and (self.root / "SegmentationClassAug").is_dir():
            return None  # derived from SegmentationClassAug minus val
        looked = ", ".join(str(p) for p in self._split_candidates(split))
        raise DatasetError(f"split list for {split!r} not found (looked in {looked}); give --split-file LIST "
                           f"(one id per line) or one of the standard splits {', '.join(VOC_SPLIT_SIZES)}")

    def _derive_train_aug(self) -> List[str]:
        """train_aug = SegmentationClassAug ids minus val (12,031 - 1,449 = 10,582 on the full data)."""
        val = first_existing(self._split_candidates("val"))
        if val is None:
            raise DatasetError("cannot derive train_aug without ImageSets/Segmentation/val.txt; "
                               "give --split-file train_aug.txt")
        val_ids = set(read_id_list(val))
        ids = sorted(p.stem for p in (self.root / "SegmentationClassAug").glob("*.png") if p.stem not in val_ids)
        if not ids:
            raise DatasetError(f"{self.root / 'SegmentationClassAug'} holds no masks outside val")
        return ids

    def _resolve_gt(self, gt: str) -> Path:
        if gt == "auto":
            order = GT_FOLDERS if self.split != "train_aug" else GT_FOLDERS[::-1]
            for name in order:
                if (self.root / name).is_dir():
                    return self.root / name
            return self.root / order[0]  # reported when a mask is read
        if gt in GT_FOLDERS:
            return self.root / gt
        path = Path(gt).expanduser()
        if not path.is_dir():
            raise DatasetError(f"ground-truth folder {path} not found; use SegmentationClass, "
                               "SegmentationClassAug or an existing folder of <id>.png masks")
        return path

    # paths -------------------------------------------------------------------------------------
    def image_path(self, image_id: str) -> Path:
        return self.root / "JPEGImages" / f"{image_id}.jpg"

    def gt_path(self, image_id: str) -> Path:
        return self.gt_dir / f"{image_id}.png"

    def annotation_path(self, image_id: str) -> Path:
        return self.root / "Annotations" / f"{image_id}.xml"

    def default_saliency_dirs(self):
        r = self.root
        return (r / "saliency_map", r / "SALImages", r / "SALImages" / "SALImages_pyramid", r / "saliency")

    def _labels_from_source(self, image_id: str) -> List[int]:
        xml = self.annotation_path(image_id)
        if xml.is_file():
            return parse_voc_xml(xml)
        if image_id in self._list_labels:
            return self._list_labels[image_id]
        raise DatasetError(f"no image-level labels for {image_id}: {xml} is missing; "
                           "give --cls-labels cls_labels.npy or a split list with labels")

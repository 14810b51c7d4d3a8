"""Training image lists on top of the :mod:`wsss_zoo.data` readers, and the stage-input folders.

Images, image-level labels, GT masks and saliency come from :class:`wsss_zoo.data.VOCDataset` /
:class:`wsss_zoo.data.COCODataset` (no second reader here). Stage inputs are folders of per-image
files keyed by image id (pseudo labels ``<id>.png``, CRF dicts and localisation maps ``<id>.npy``...).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
from torch.utils.data import Dataset

from wsss_zoo.data import COCODataset, VOCDataset
from wsss_zoo.errors import DatasetError
from wsss_zoo.inputs import label_vector


@dataclasses.dataclass(frozen=True)
class Item:
    """One training image: id, JPEG path and its image-level labels (segmentation ids 1..C)."""

    id: str
    image: str
    labels: tuple


def open_dataset(dataset: str, *, voc_root=None, coco_root=None, split: str = "train_aug", split_file=None,
                 cls_labels=None, coco_layout: str = "auto"):
    """The wsss_zoo reader of a recipe's dataset and split."""
    if dataset == "voc":
        if voc_root is None:
            raise DatasetError("this recipe trains on PASCAL VOC: give --voc-root DIR (VOCdevkit/VOC2012)")
        return VOCDataset(voc_root, split, split_file=split_file, cls_labels=cls_labels)
    if dataset == "coco":
        if coco_root is None:
            raise DatasetError("this recipe trains on COCO 2014: give --coco-root DIR")
        return COCODataset(coco_root, _coco_split(split), layout=coco_layout, split_file=split_file,
                           cls_labels=cls_labels)
    raise DatasetError(f"unknown dataset {dataset!r}")


def _coco_split(split: str) -> str:
    return "train" if split == "train_aug" else split


def items_of(reader, ids: Optional[Sequence[str]] = None) -> List[Item]:
    ids = reader.ids if ids is None else ids
    return [Item(i, str(reader.image_path(i)), tuple(reader.labels(i))) for i in ids]


def resolve_input(name: str, given: Dict[str, Path], reader, default: str = "", out_dir=None,
                  producer: str = "") -> Path:
    """Folder of stage input ``name``: ``--input name=DIR``, else the default: ``out:X`` = ``<--out>/X``
    (written by an earlier stage of this repo), ``root:X`` = ``<dataset root>/X`` (upstream's location)."""
    if name in given:
        path = Path(given[name]).expanduser()
    elif default.startswith("out:") and out_dir is not None:
        path = Path(out_dir) / default[4:]
    elif default.startswith("root:"):
        path = Path(reader.root) / default[5:]
    else:
        raise DatasetError(f"this recipe needs --input {name}=DIR")
    if not path.is_dir():
        made_by = f"; it is written by: {producer}" if producer else ""
        raise DatasetError(f"stage input {name!r}: folder {path} not found; give --input {name}=DIR{made_by}")
    return path


def require_files(folder: Path, ids: Sequence[str], suffix: str, what: str) -> None:
    """Fail early, naming a few missing files, when a stage input does not cover the split."""
    missing = [i for i in ids if not (folder / f"{i}{suffix}").is_file()]
    if missing:
        raise DatasetError(f"{what}: {len(missing)} of {len(ids)} files missing in {folder} "
                           f"(e.g. {', '.join(missing[:3])}{suffix})")


class ItemDataset(Dataset):
    """Base of the training sets: the items, the dataset name (for label vectors), the data settings and
    the folder of the stage input the set reads, if any."""

    def __init__(self, items: Sequence[Item], dataset: str = "voc", params: Optional[dict] = None, folder=None):
        self.items, self.dataset, self.params = list(items), dataset, dict(params or {})
        self.dir = None if folder is None else Path(folder)

    def __len__(self):
        return len(self.items)

    def label(self, item: Item) -> torch.Tensor:
        """Multi-hot float32 (C,) image label."""
        return torch.from_numpy(label_vector(item.labels, self.dataset))

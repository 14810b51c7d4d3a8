"""What every dataset reader shares: split lists, image-level labels files, samples, size checks."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import DatasetError
from ..fileio import read_text_utf8
from ..inputs import load_image
from ..safe_pickle import load_npy_dict
from .io import read_label_png


@dataclass
class Sample:
    """One image of a split: its id (the output file stem), paths and image-level labels (ids 1..C)."""

    id: str
    image_path: Path
    labels: List[int]
    gt_path: Optional[Path] = None
    saliency_path: Optional[Path] = None


def read_id_list(path) -> List[str]:
    """Image ids of a split list in any upstream format, in file order.

    Accepted lines: bare ids (``2007_000032``, IRN/EPS/VainF), ``/JPEGImages/ID.jpg /SegmentationClassAug/ID.png``
    (PSA/SEAM/SBNet, kazuto ``SegmentationAug``), ``ID c1 c2`` (DRS ``*_cls.txt``; see :func:`read_list_labels`).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"split list not found: {path}")
    ids = []
    for line in read_text_utf8(path, DatasetError, "split list").splitlines():
        fields = line.split()
        if not fields:
            continue
        first = fields[0]
        if "/" in first or first.endswith((".jpg", ".png", ".jpeg")):
            first = Path(first).stem
        ids.append(first)
    if not ids:
        raise DatasetError(f"split list {path} is empty")
    return ids


def read_list_labels(path) -> Dict[str, List[int]]:
    """Labels embedded in DRS-style lists (``ID c1 c2`` with 0-based class indices) as ids 1..C."""
    out = {}
    for line in read_text_utf8(path, DatasetError, "split list").splitlines():
        fields = line.split()
        if len(fields) > 1 and "/" not in fields[0] and all(re.fullmatch(r"\d+", f) for f in fields[1:]):
            out[fields[0]] = sorted({int(f) + 1 for f in fields[1:]})
    return out


def load_cls_labels(path, num_classes: int) -> Dict[str, List[int]]:
    """Read an upstream ``cls_labels.npy`` (pickled dict of multi-hot vectors) as {key string: ids 1..C}.

    Keys may be id strings (PSA/SEAM/EPS: ``'2007_000032'``, ``'COCO_train2014_...'``) or integers
    (IRN/RIB: ``2007000032``, COCO image ids); :func:`label_key_candidates` matches both.
    """
    obj = load_npy_dict(path, error=DatasetError, what="cls_labels file")
    out = {}
    for key, vec in obj.items():
        try:
            vec = np.asarray(vec).reshape(-1)
        except Exception:  # noqa: BLE001 - ragged or odd values
            vec = np.zeros(0, object)
        if vec.dtype.kind not in "biuf":
            raise DatasetError(f"{path}: the labels of {key!r} are not a numeric multi-hot vector "
                               f"(np.save of {{image id: multi-hot vector}})")
        if vec.size != num_classes:
            raise DatasetError(f"{path}: label vector of {key!r} has {vec.size} entries, expected {num_classes}")
        out[str(int(key)) if isinstance(key, (int, np.integer)) else str(key)] = (np.nonzero(vec)[0] + 1).tolist()
    return out


def label_key_candidates(image_id: str) -> List[str]:
    """Keys under which an image may appear in a cls_labels dict: the id, and its integer forms."""
    keys = [image_id]
    digits = image_id.replace("_", "")
    if digits.isdigit():
        keys.append(str(int(digits)))  # IRN: 2007_000032 -> 2007000032
    tail = re.search(r"(\d+)$", image_id)
    if tail:
        keys.append(str(int(tail.group(1))))  # COCO: COCO_train2014_000000000009 / 000000000009 -> 9
    return keys


class SegmentationDataset:
    """Base class: a split of image ids with images, labels, optional GT masks and saliency maps.

    Subclasses set ``name`` ("voc" or "coco"), ``num_classes`` (21 or 81 including background),
    ``root``, ``split``, ``ids`` and implement the ``*_path`` methods and ``_labels_from_source``.
    """

    name = ""
    num_classes = 0
    root: Path
    split: str
    ids: List[str]

    def __init__(self, cls_labels=None):
        self._label_cache: Dict[str, List[int]] = {}
        self._cls_labels = load_cls_labels(cls_labels, self.num_classes - 1) if cls_labels else None
        self._saliency_dir: Optional[Path] = None

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self):
        return (self.sample(i) for i in self.ids)

    def __repr__(self):
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, n={len(self)})"

    # paths -------------------------------------------------------------------------------------
    def image_path(self, image_id: str) -> Path:
        raise NotImplementedError

    def gt_path(self, image_id: str) -> Path:
        raise NotImplementedError

    def default_saliency_dirs(self) -> Sequence[Path]:
        return ()

    # saliency ----------------------------------------------------------------------------------
    def set_saliency_dir(self, path=None) -> Path:
        """Use saliency maps ``<dir>/<id>.png``; without ``path`` look in the dataset's usual folders."""
        candidates = [Path(path).expanduser()] if path else list(self.default_saliency_dirs())
        for cand in candidates:
            if cand.is_dir():
                self._saliency_dir = cand
                return cand
        looked = ", ".join(str(c) for c in candidates) or "(none)"
        raise DatasetError(f"saliency folder not found (looked in {looked}); give --saliency-dir DIR with "
                           "<id>.png maps (DRS: saliency_map/, EPS: SALImages/)")

    def saliency_path(self, image_id: str) -> Optional[Path]:
        return None if self._saliency_dir is None else self._saliency_dir / f"{image_id}.png"

    # labels ------------------------------------------------------------------------------------
    def labels(self, image_id: str) -> List[int]:
        """Image-level labels as sorted segmentation ids 1..C (a cls_labels file wins over annotations)."""
        if image_id not in self._label_cache:
            labels = None
            if self._cls_labels is not None:
                for key in label_key_candidates(image_id):
                    if key in self._cls_labels:
                        labels = self._cls_labels[key]
                        break
                if labels is None:
                    raise DatasetError(f"{image_id} is not in the given cls_labels file")
            else:
                labels = self._labels_from_source(image_id)
            self._label_cache[image_id] = sorted(labels)
        return list(self._label_cache[image_id])

    def _labels_from_source(self, image_id: str) -> List[int]:
        raise NotImplementedError

    # reading -----------------------------------------------------------------------------------
    def sample(self, image_id: str) -> Sample:
        sal = self.saliency_path(image_id)
        return Sample(image_id, self.image_path(image_id), self.labels(image_id),
                      self.gt_path(image_id), sal)

    def image(self, image_id: str) -> np.ndarray:
        path = self.image_path(image_id)
        if not path.is_file():
            raise DatasetError(f"image not found: {path}")
        return load_image(path, exif=False)  # upstream loaders ignore EXIF; the GT masks match the stored pixels

    def image_size(self, image_id: str):
        """(H, W) of an image, read from its header only."""
        from PIL import Image

        path = self.image_path(image_id)
        if not path.is_file():
            raise DatasetError(f"image not found: {path}")
        try:
            with Image.open(path) as im:
                return im.size[1], im.size[0]
        except Exception as exc:  # noqa: BLE001 - UnidentifiedImageError, bombs, damaged headers
            raise DatasetError(f"cannot read the image header of {path} ({str(exc).strip()[:200]})") from None

    def gt(self, image_id: str, *, check_image: bool = False) -> np.ndarray:
        """The GT mask (uint8 HxW, 255 ignore); with ``check_image`` its size must equal the image's."""
        path = self.gt_path(image_id)
        if path is None or not path.is_file():
            raise DatasetError(f"ground-truth mask of {image_id} not found: {path}")
        mask = read_label_png(path)
        if check_image:
            size = self.image_size(image_id)
            if mask.shape != size:
                raise DatasetError(f"mask {path} is {mask.shape[0]}x{mask.shape[1]} but its image is "
                                   f"{size[0]}x{size[1]}; the dataset is inconsistent")
        return mask

    def saliency(self, image_id: str, shape=None) -> np.ndarray:
        """The saliency map (uint8 HxW) of an image; checked against ``shape`` (H, W) when given."""
        from ..inputs import load_saliency

        path = self.saliency_path(image_id)
        if path is None:
            self.set_saliency_dir()
            path = self.saliency_path(image_id)
        if not path.is_file():
            raise DatasetError(f"saliency map of {image_id} not found: {path}")
        return load_saliency(path, shape if shape is not None else self.image_size(image_id), exif=False)

    def subset(self, ids: Sequence[str]):
        """The same dataset restricted to ``ids`` (kept in the given order)."""
        import copy

        known = set(self.ids)
        missing = [i for i in ids if i not in known]
        if missing:
            raise DatasetError(f"{len(missing)} ids are not in split {self.split!r}: {missing[:5]}")
        out = copy.copy(self)
        out.ids = list(ids)
        return out


def first_existing(paths: Sequence[Path]) -> Optional[Path]:
    for p in paths:
        if p.is_file():
            return p
    return None

"""Where many images come from: folders of images, labels files, and in-memory lists.

A *source* is anything with ``ids`` and the three readers of :class:`wsss_zoo.data.SegmentationDataset`:
``image(id) -> HxWx3 uint8``, ``labels(id)`` and ``saliency(id, shape) -> HxW uint8``. The datasets of
:mod:`wsss_zoo.data` are sources; :class:`ListSource` makes one of parallel lists (images or paths,
labels, saliency maps) and :func:`folder_source` one of a folder and a labels table. The loaders of
:mod:`wsss_zoo.loading` read any source ahead of the network, in worker processes.
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Type

import numpy as np

from .errors import ConfigError, InvalidImageError, InvalidLabelsError, SaliencyError, WsssZooError
from .inputs import load_image, load_saliency

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm")
SALIENCY_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


# --------------------------------------------------------------------------- folders and labels files
def collect_images(path, recursive: bool = False) -> List[Tuple[Path, str]]:
    """``[(image path, output stem)]`` for an image file or a folder (sorted; subfolders with ``recursive``)."""
    path = Path(path).expanduser()
    if path.is_file():
        return [(path, path.stem)]
    if not path.is_dir():
        raise InvalidImageError(f"{path} is neither an image file nor a folder")
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        hint = "" if recursive else " (add --recursive to look in subfolders)"
        raise InvalidImageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {path}{hint}")
    return [(p, p.relative_to(path).with_suffix("").as_posix()) for p in files]


def read_labels_file(path) -> Dict[str, object]:
    """Image-level labels per image: ``{stem: labels}`` from a text, JSON or upstream ``cls_labels.npy`` file.

    Text: one image a line, ``NAME LABELS`` with labels as names or ids separated by commas (or
    spaces), e.g. ``2007_000129 bicycle,person``; a tab or a first comma may also separate the name.
    JSON: ``{"NAME": ["bicycle", "person"]}``. ``.npy``: PSA/EPS ``cls_labels.npy``, a dict of
    multi-hot vectors. ``NAME`` may carry an extension; lines starting with ``#`` are skipped.
    """
    import numpy as np

    from .fileio import read_text_utf8
    from .safe_pickle import load_npy_dict

    path = Path(path).expanduser()
    if not path.is_file():
        raise InvalidLabelsError(f"labels file not found: {path}")
    if path.suffix == ".npy":
        table = load_npy_dict(path, error=InvalidLabelsError, what="labels file")
        out = {}
        for k, v in table.items():
            try:
                vec = np.asarray(v, dtype=np.float32)
            except (TypeError, ValueError):
                vec = None
            if vec is None or vec.ndim != 1:
                raise InvalidLabelsError(f"{path}: the labels of {k!r} are not a multi-hot vector "
                                         "(cls_labels.npy format: {image name: vector of C zeros and ones})")
            out[Path(str(k)).stem] = vec
        return out
    text = read_text_utf8(path, InvalidLabelsError, "labels file")
    if path.suffix == ".json":
        try:
            table = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InvalidLabelsError(f"{path} is not valid JSON: {str(exc)[:200]}") from None
        if not isinstance(table, dict):
            raise InvalidLabelsError(f"{path} must hold an object {{image name: labels}}")
        for k, v in table.items():
            if not _is_label_value(v):
                raise InvalidLabelsError(
                    f"{path}: the labels of {k!r} are {_json_kind(v)}; give a list of class names or ids "
                    'or a comma-separated string, e.g. {"img1": ["cat", "person"]}')
        return {_name_key(k): v for k, v in table.items()}
    table = {}
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sep = "\t" if "\t" in line else "," if "," in line.split(None, 1)[0] else " "
        name, _, rest = line.partition(sep)
        rest = rest.strip()
        commas = sep == "," or "," in rest  # CSV-like lines separate labels by commas only
        labels = [t.strip() for t in (rest.split(",") if commas else rest.split()) if t.strip()]
        if not labels:
            raise InvalidLabelsError(f"{path}:{n}: no labels for {name!r}; write NAME LABELS, e.g. img1 cat,person")
        table[_name_key(name.strip())] = labels
    return table


def _name_key(name) -> str:
    """The image name of a labels-file entry without its extension (``a/b.jpg`` -> ``a/b``)."""
    path = Path(str(name))
    try:
        return path.with_suffix("").as_posix()
    except ValueError:  # "", ".", "..": no extension to drop
        return path.as_posix()


def _is_label_value(value) -> bool:
    """A labels-file entry: a string, an id, or a list of strings and ids (no nesting, no booleans)."""
    def atom(x):
        return isinstance(x, str) or (isinstance(x, int) and not isinstance(x, bool))

    return atom(value) or (isinstance(value, list) and all(atom(x) for x in value))


def _json_kind(value) -> str:
    kinds = {dict: "an object", list: "a list holding other things than names and ids", bool: "a boolean",
             float: "a number with a fraction", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def labels_in_table(table: Mapping, stem: str, where: str = "the labels table"):
    """The labels of image ``stem`` (a relative stem such as ``sub/img``) in ``{name: labels}``: the stem, its
    name with an extension dropped, or its last part."""
    for key in (stem, _name_key(stem), Path(stem).name):
        if key in table:
            return table[key]
    raise InvalidLabelsError(f"no labels for {stem} in {where}")


def saliency_in_folder(folder: Path, stem: str, image_path: Optional[Path] = None) -> Path:
    """The saliency map ``<folder>/<stem>.png`` (or .jpg, .jpeg, .bmp; also by the image file's own stem)."""
    for suffix in SALIENCY_SUFFIXES:
        for candidate in (folder / (stem + suffix),) + ((folder / (image_path.stem + suffix),) if image_path else ()):
            if candidate.is_file():
                return candidate
    raise SaliencyError(f"no saliency map for {stem} in {folder} (expected {stem}.png)")


# --------------------------------------------------------------------------- sources
class ListSource:
    """A source of parallel sequences: ``images[i]`` (array, PIL image, tensor or path) has ``labels[i]``
    (or no labels) and ``saliency[i]`` (array, path or None); ``ids`` default to the positions 0..n-1.

    Images read from files keep their EXIF turn (``exif=True``, as :func:`wsss_zoo.load_image`).
    """

    name = "images"
    split = ""

    def __init__(self, images: Sequence, labels: Optional[Sequence] = None, saliency: Optional[Sequence] = None,
                 ids: Optional[Sequence] = None):
        self.ids = list(range(len(images))) if ids is None else list(ids)
        self._index = {image_id: i for i, image_id in enumerate(self.ids)}
        self._images, self._labels, self._saliency = list(images), labels, saliency

    def __len__(self) -> int:
        return len(self.ids)

    def image(self, image_id):
        return load_image(self._images[self._index[image_id]])

    def labels(self, image_id):
        if self._labels is None:
            raise InvalidLabelsError("labels are required: give one labels entry per image")
        return self._labels[self._index[image_id]]

    def saliency(self, image_id, shape):
        maps = self._saliency
        return None if maps is None else load_saliency(maps[self._index[image_id]], shape)

    def reads_files(self) -> bool:
        """Whether some image is a path: decoding is then worth worker processes."""
        return any(isinstance(im, (str, os.PathLike)) for im in self._images)


def folder_source(folder, labels=None, saliency=None, *, recursive: bool = False) -> ListSource:
    """The images of ``folder`` (ids: their relative stems) with ``labels`` from a mapping ``{name: labels}``
    or a labels file (:func:`read_labels_file`), and saliency maps ``<saliency>/<stem>.png``."""
    items = collect_images(folder, recursive)
    ids = [stem for _, stem in items]
    table, where = None, "the labels mapping"
    if isinstance(labels, (str, Path)) or hasattr(labels, "__fspath__"):
        table, where = read_labels_file(labels), str(labels)
    elif isinstance(labels, Mapping):
        table = {_name_key(k): v for k, v in labels.items()}
    elif labels is not None:
        raise InvalidLabelsError(f"labels for a folder are a mapping {{image name: labels}} or a labels file, "
                                 f"not {type(labels).__name__}")
    per_image = None if table is None else _TableLabels(table, ids, where)
    maps = None
    if saliency is not None:
        sal = Path(saliency).expanduser()
        if not sal.is_dir():
            raise SaliencyError(f"saliency for a folder must be a folder of NAME.png maps; {sal} is not one")
        maps = _FolderMaps(sal, items)
    return ListSource([path for path, _ in items], per_image, maps, ids=ids)


class _TableLabels:
    """``labels[i]`` of a folder's images, looked up by stem when read (a missing entry fails that image)."""

    def __init__(self, table: Mapping, ids: Sequence[str], where: str):
        self._table, self._ids, self._where = table, list(ids), where

    def __getitem__(self, i: int):
        return labels_in_table(self._table, self._ids[i], self._where)


class _FolderMaps:
    def __init__(self, folder: Path, items: Sequence[Tuple[Path, str]]):
        self._folder, self._items = folder, list(items)

    def __getitem__(self, i: int) -> Path:
        path, stem = self._items[i]
        return saliency_in_folder(self._folder, stem, path)


# --------------------------------------------------------------------------- many images at the API
def _is_image_object(x) -> bool:
    from PIL import Image

    return isinstance(x, (np.ndarray, str, os.PathLike, Image.Image)) or (hasattr(x, "detach") and hasattr(x, "cpu"))


def is_batch(images) -> bool:
    """Several images: a non-empty list or tuple of images (arrays, PIL images, tensors, paths), or a 4-D
    array or tensor (NxHxWx3 or Nx3xHxW). Nested Python lists of numbers stay one image, as before."""
    if isinstance(images, (list, tuple)):
        return bool(images) and all(_is_image_object(x) for x in images)
    return getattr(images, "ndim", None) == 4 and _is_image_object(images)


def per_image(values, n: int, what: str, error: Type[WsssZooError] = InvalidLabelsError) -> list:
    """``values`` as a list of one entry per image of ``n`` (labels, saliency maps)."""
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__len__"):
        raise error(f"{n} images need their {what} as a list with one entry per image, "
                    f"not {type(values).__name__}")
    if len(values) != n:
        raise error(f"{n} images but {len(values)} {what}: give one entry per image "
                    f"(the same for every image: [entry] * {n})")
    return list(values)


def _is_dataset(obj) -> bool:
    readers = ("ids", "image", "labels", "saliency")
    return all(hasattr(obj, name) for name in readers) and not isinstance(obj, ListSource)


def many_images(images, labels, saliency, *, need_saliency: bool):
    """The source of the iterator API's ``images`` argument: ``(source, read saliency maps?, is a dataset?)``.

    ``images``: a list of images (or an N-image array/tensor) with parallel ``labels`` and ``saliency``
    lists; a folder with ``labels`` as a mapping or a labels file and ``saliency`` a folder; a dataset of
    :mod:`wsss_zoo.data` (its own labels; ``saliency`` a folder, by default the dataset's own when the
    method ``need_saliency``).
    """
    if _is_dataset(images):
        if labels is not None:
            raise ConfigError("a dataset brings its own image-level labels: pass labels=None "
                              "(or open it with cls_labels=<file>)")
        if saliency is None:
            return images, need_saliency, True
        source = copy.copy(images)  # the caller's dataset keeps its saliency folder
        source.set_saliency_dir(saliency)
        return source, True, True
    if isinstance(images, (str, os.PathLike)):
        path = Path(images).expanduser()
        if not path.is_dir():
            raise InvalidImageError(f"{path} is not a folder: for one image use pseudo_mask()/cam(), for several "
                                    "pass a list of images, a folder or a dataset")
        if labels is None:
            raise InvalidLabelsError(f"give the labels of the images in {path}: a mapping {{image name: labels}} "
                                     "or a labels file (NAME LABELS lines, JSON or cls_labels.npy)")
        return folder_source(path, labels, saliency), saliency is not None, False
    if isinstance(images, (list, tuple)) and not images:
        return ListSource([]), False, False
    if is_batch(images):
        items = list(images)
        maps = None if saliency is None else per_image(saliency, len(items), "saliency maps", SaliencyError)
        return ListSource(items, per_image(labels, len(items), "labels"), maps), maps is not None, False
    raise InvalidImageError(f"images must be a list of images, a folder or a dataset (wsss_zoo.data.open_dataset), "
                            f"not {type(images).__name__}; for one image use pseudo_mask()/cam()")

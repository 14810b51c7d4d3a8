#!/usr/bin/env python
"""A generated PASCAL VOC-layout dataset of coloured shapes on textured backgrounds, with exact masks.

    python benchmarks/synthetic.py OUT                      # 800 train + 64 val images, seed 0
    python benchmarks/synthetic.py OUT --train 200 --val 32 --seed 1

Small CAM networks trained on it from a random initialisation localise its objects within a few hundred
steps (``benchmarks/train_small.py``), which gives realistic weights for measuring numerical agreement
(random stand-in weights give huge, badly conditioned logits).

Each of six VOC classes is one shape with its own colour and texture (:data:`SHAPE_CLASSES`); an image
(160-224 px a side) holds 1-3 objects (a class may repeat) on a background of desaturated low-frequency
colour, a faint texture and pixel noise. Objects are drawn in order and may overlap; every object keeps
at least 60 % of its area visible, else it is placed again (or left out). The mask is exact (no 255
border); the image-level labels are the classes with visible pixels.

Written under ``OUT/VOC2012`` (what ``wsss_zoo.data.open_dataset("voc", OUT, split)``, ``wsss-zoo`` and
``training/run.py --voc-root OUT`` read): ``JPEGImages/<id>.jpg`` (quality 95),
``SegmentationClass/<id>.png`` (VOC palette), ``SegmentationClassAug/<id>.png`` (grey), ``Annotations/<id>.xml``
(one object per label), ``ImageSets/Segmentation/{train,val,trainval,train_aug}.txt`` (train_aug = train),
``cls_labels.npy`` (PSA style: id -> 20-dim multi-hot), ``saliency_map/<id>.png`` (255 on objects, for
pipelines that read saliency) and ``synthetic.json`` (the settings; a rerun with the same settings
keeps the tree). Ids are ``2100_NNNNNN`` (train) and ``2101_NNNNNN`` (val): no real VOC id looks like them.
Image ``i`` of a split depends only on (seed, split, i), so a larger tree extends a smaller one.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from wsss_zoo.classes import VOC_CLASSES  # noqa: E402
from wsss_zoo.data.io import write_label_png  # noqa: E402
from wsss_zoo.fileio import atomic_save_image, atomic_write, atomic_write_text  # noqa: E402

VERSION = 1
SIZE_RANGE = (160, 224)          # height and width, each drawn uniformly
RADIUS_RANGE = (0.16, 0.30)      # object half-size, fraction of the short side
MIN_VISIBLE = 0.6                # fraction of an object's area that must stay visible
SPLIT_PREFIX = {"train": "2100", "val": "2101"}


# --------------------------------------------------------------------------------------------- shapes
def _disc(u, v):
    return u * u + v * v <= 1.0


def _square(u, v):
    return np.maximum(np.abs(u), np.abs(v)) <= 0.8


def _triangle(u, v):
    # equilateral, circumradius 1, pointing up before rotation
    return (v <= 0.5) & (np.sqrt(3) * u - v <= 1.0) & (-np.sqrt(3) * u - v <= 1.0)


def _ring(u, v):
    d = u * u + v * v
    return (d <= 1.0) & (d >= 0.3)


def _diamond(u, v):
    return np.abs(u) + np.abs(v) <= 1.0


def _cross(u, v):
    au, av = np.abs(u), np.abs(v)
    return ((au <= 0.33) & (av <= 1.0)) | ((av <= 0.33) & (au <= 1.0))


# -------------------------------------------------------------------------------------------- textures
def _stripes(u, v, rng):
    return 0.5 + 0.5 * np.sin(u * rng.uniform(9, 13))


def _checker(u, v, rng):
    k = rng.uniform(3, 4.5)
    return ((np.floor(u * k) + np.floor(v * k)) % 2).astype(np.float32)


def _dots(u, v, rng):
    k = rng.uniform(4, 6)
    fu, fv = (u * k) % 1 - 0.5, (v * k) % 1 - 0.5
    return (fu * fu + fv * fv > 0.08).astype(np.float32)


def _plain(u, v, rng):
    return np.ones_like(u)


def _rings(u, v, rng):
    return 0.5 + 0.5 * np.cos(np.sqrt(u * u + v * v) * rng.uniform(14, 18))


def _hatch(u, v, rng):
    k = rng.uniform(8, 11)
    return 0.5 + 0.25 * (np.sin(u * k) + np.sin(v * k))


@dataclasses.dataclass(frozen=True)
class ShapeClass:
    voc_id: int
    shape: Callable
    rgb: Tuple[int, int, int]
    texture: Callable

    @property
    def name(self) -> str:
        return VOC_CLASSES[self.voc_id]


#: the six classes: VOC id, shape, base colour, texture
SHAPE_CLASSES: Tuple[ShapeClass, ...] = (
    ShapeClass(1, _disc, (220, 45, 40), _stripes),       # aeroplane: red striped disc
    ShapeClass(3, _triangle, (235, 200, 30), _plain),    # bird: yellow triangle
    ShapeClass(7, _square, (40, 75, 220), _checker),     # car: blue checked square
    ShapeClass(8, _ring, (40, 180, 70), _rings),         # cat: green ring
    ShapeClass(12, _diamond, (200, 50, 200), _dots),     # dog: magenta dotted diamond
    ShapeClass(15, _cross, (40, 200, 215), _hatch),      # person: cyan hatched cross
)
CLASS_IDS = tuple(c.voc_id for c in SHAPE_CLASSES)


# ---------------------------------------------------------------------------------------------- images
@dataclasses.dataclass
class Sample:
    image: np.ndarray     # H x W x 3 uint8
    mask: np.ndarray      # H x W uint8, 0 background, class ids
    labels: List[int]     # sorted VOC ids with visible pixels


def _smooth_field(rng, h: int, w: int, cells: int, channels: int) -> np.ndarray:
    """A random field on a coarse grid, bicubically upsampled to h x w, values in [0, 1]."""
    grid = rng.random((cells, cells, channels)).astype(np.float32)
    up = [np.asarray(Image.fromarray(grid[..., c]).resize((w, h), Image.BICUBIC)) for c in range(channels)]
    return np.clip(np.stack(up, -1), 0, 1)


def background(rng, h: int, w: int) -> np.ndarray:
    """Desaturated low-frequency colour + a faint random texture + pixel noise, float in [0, 255]."""
    colour = _smooth_field(rng, h, w, int(rng.integers(3, 7)), 3)
    grey = colour.mean(-1, keepdims=True)
    base = 60 + 130 * (0.35 * colour + 0.65 * grey)  # mostly grey: objects are the saturated colours
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle, period = rng.uniform(0, np.pi), rng.uniform(6, 20)
    texture = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    base += rng.uniform(5, 20) * texture[..., None]
    base += rng.normal(0, 6, (h, w, 3))
    return base


def render(rng, n_objects: Optional[int] = None) -> Sample:
    """One image: textured background and 1-3 objects, their exact mask and image-level labels."""
    h, w = (int(x) for x in rng.integers(SIZE_RANGE[0], SIZE_RANGE[1] + 1, size=2))
    img = background(rng, h, w)
    mask = np.zeros((h, w), np.uint8)
    owner = np.full((h, w), -1, np.int16)   # which object a pixel shows
    areas: List[int] = []
    n = int(rng.integers(1, 4)) if n_objects is None else n_objects
    for index in range(n):
        cls = SHAPE_CLASSES[int(rng.integers(len(SHAPE_CLASSES)))]
        placed = None
        for _ in range(20):
            placed = _place(rng, h, w, cls, owner, areas)
            if placed is not None:
                break
        if placed is None:
            continue
        u, v, inside = placed
        jitter = rng.integers(-20, 21, 3)
        colour = np.clip(np.asarray(cls.rgb) + jitter, 0, 255).astype(np.float32)
        shade = 0.55 + 0.45 * cls.texture(u, v, rng)
        obj = colour[None, None, :] * shade[..., None] + rng.normal(0, 6, (h, w, 3))
        img[inside] = obj[inside]
        mask[inside] = cls.voc_id
        owner[inside] = len(areas)
        areas.append(int(inside.sum()))
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    labels = sorted(int(c) for c in np.unique(mask) if c)
    return Sample(image, mask, labels)


def _place(rng, h: int, w: int, cls: ShapeClass, owner: np.ndarray, areas: List[int]):
    """Object-frame coordinates (u, v) and the pixels of one object, or None when the shape is too small
    or would leave an earlier object less than :data:`MIN_VISIBLE` of its area."""
    r = rng.uniform(*RADIUS_RANGE) * min(h, w)
    cy, cx = rng.uniform(0.15 * h, 0.85 * h), rng.uniform(0.15 * w, 0.85 * w)
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dy, dx = (yy - cy) / r, (xx - cx) / r
    u = np.cos(theta) * dx + np.sin(theta) * dy
    v = -np.sin(theta) * dx + np.cos(theta) * dy
    inside = cls.shape(u, v)
    if inside.sum() < 100:
        return None
    for k, area in enumerate(areas):  # objects drawn later cover earlier ones
        if ((owner == k) & ~inside).sum() < MIN_VISIBLE * area:
            return None
    return u, v, inside


# ---------------------------------------------------------------------------------------------- writing
def image_ids(split: str, n: int) -> List[str]:
    return [f"{SPLIT_PREFIX[split]}_{i + 1:06d}" for i in range(n)]


def sample(seed: int, split: str, index: int) -> Sample:
    """Image ``index`` (0-based) of ``split``: a function of (seed, split, index) alone."""
    return render(np.random.default_rng([seed, list(SPLIT_PREFIX).index(split), index]))


def _annotation(image_id: str, s: Sample) -> str:
    """A VOC annotation naming one object per label, its box the bounding box of the class's pixels."""
    import xml.etree.ElementTree as ET

    h, w = s.mask.shape
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "VOC2012"
    ET.SubElement(root, "filename").text = f"{image_id}.jpg"
    size = ET.SubElement(root, "size")
    for tag, value in (("width", w), ("height", h), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "1"
    for c in s.labels:
        ys, xs = np.nonzero(s.mask == c)
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = VOC_CLASSES[c]
        ET.SubElement(obj, "difficult").text = "0"
        box = ET.SubElement(obj, "bndbox")
        corners = {"xmin": xs.min(), "ymin": ys.min(), "xmax": xs.max(), "ymax": ys.max()}
        for tag, value in corners.items():  # VOC boxes are 1-based
            ET.SubElement(box, tag).text = str(int(value) + 1)
    return ET.tostring(root, encoding="unicode")


def _write_image(path: Path, arr: np.ndarray, fmt: str, **options) -> None:
    atomic_save_image(Image.fromarray(arr), path, fmt, **options)


def write_sample(root: Path, image_id: str, s: Sample) -> None:
    _write_image(root / "JPEGImages" / f"{image_id}.jpg", s.image, "JPEG", quality=95)
    write_label_png(root / "SegmentationClass" / f"{image_id}.png", s.mask)
    _write_image(root / "SegmentationClassAug" / f"{image_id}.png", s.mask, "PNG")
    _write_image(root / "saliency_map" / f"{image_id}.png", np.where(s.mask > 0, 255, 0).astype(np.uint8), "PNG")
    atomic_write_text(root / "Annotations" / f"{image_id}.xml", _annotation(image_id, s))


def write_tree(out, *, n_train: int = 800, n_val: int = 64, seed: int = 0, force: bool = False) -> Path:
    """Write the dataset under ``out/VOC2012`` and return that folder; a complete tree written with the same
    settings is kept as it is (unless ``force``)."""
    if n_train < 1 or n_val < 1:
        raise ValueError("give at least one train and one val image")
    root = Path(out).expanduser() / "VOC2012"
    settings = {"version": VERSION, "seed": int(seed), "train": int(n_train), "val": int(n_val)}
    manifest = root / "synthetic.json"
    if not force and manifest.is_file() and json.loads(manifest.read_text()).get("settings") == settings:
        return root
    manifest.unlink(missing_ok=True)  # an interrupted rewrite must not look complete
    splits = {"train": image_ids("train", n_train), "val": image_ids("val", n_val)}
    cls_labels, pixels = {}, np.zeros(21, np.int64)
    for split, ids in splits.items():
        for index, image_id in enumerate(ids):
            s = sample(seed, split, index)
            write_sample(root, image_id, s)
            vec = np.zeros(20, np.float32)
            vec[np.asarray(s.labels, int) - 1] = 1
            cls_labels[image_id] = vec
            pixels += np.bincount(s.mask.ravel(), minlength=21)[:21]
    lists = {"train": splits["train"], "val": splits["val"], "trainval": splits["train"] + splits["val"],
             "train_aug": splits["train"]}
    for name, ids in lists.items():
        atomic_write_text(root / "ImageSets" / "Segmentation" / f"{name}.txt", "\n".join(ids) + "\n")
    atomic_write(root / "cls_labels.npy", lambda f: np.save(f, cls_labels, allow_pickle=True))  # our own dict
    classes = {c.name: {"voc_id": c.voc_id, "shape": c.shape.__name__.strip("_"), "rgb": list(c.rgb),
                        "texture": c.texture.__name__.strip("_")} for c in SHAPE_CLASSES}
    fractions = {VOC_CLASSES[c]: round(float(pixels[c] / pixels.sum()), 4) for c in (0,) + CLASS_IDS}
    atomic_write_text(manifest, json.dumps({"settings": settings, "generator": "benchmarks/synthetic.py",
                                      "classes": classes, "pixel_fractions": fractions}, indent=1))
    return root


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="folder to write (the tree goes to OUT/VOC2012)")
    ap.add_argument("--train", type=int, default=800, help="train images (train = train_aug)")
    ap.add_argument("--val", type=int, default=64, help="val images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="rewrite even if the same settings were written")
    args = ap.parse_args(argv)
    if args.train < 1 or args.val < 1:
        ap.error("--train and --val must be at least 1")
    start = time.time()
    root = write_tree(args.out, n_train=args.train, n_val=args.val, seed=args.seed, force=args.force)
    info = json.loads((root / "synthetic.json").read_text())
    print(f"{root}: {args.train} train + {args.val} val images ({time.time() - start:.1f} s); "
          f"pixel fractions {info['pixel_fractions']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

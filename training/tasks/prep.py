"""Stage inputs that only training needs, computed over the split (``stage="prep"`` recipes).

Each rank takes ``ids[rank::world]`` under torchrun, finished files are skipped (so a run resumes) and
every file is written atomically. What the pipelines already produce (CAM dicts, pseudo masks) comes
from ``wsss-zoo cam`` / ``wsss-zoo pseudo-mask``; these recipes turn such outputs into training labels:

* ``ir_labels``   -- IRN ``cam_to_ir_label`` seeds from IRN CAM dicts;
* ``crf_labels``  -- PSA/SEAM ``_crf_with_alpha`` la / ha score dicts from PSA-style CAM dicts;
* ``loc_maps``    -- DRS ``localization_map_gen.py`` uint8 maps of a trained classifier (``--weights``);
* ``cda_bank``    -- CDA ``make_aug_fg.py`` object bank from pseudo masks;
* ``sbnet_boundary`` -- 21-channel boundary maps from label maps (SBNet's ``sb_map``, see README);
* ``rib_cams``    -- RIB's per-image fine-tuned CAMs of a trained classifier (``--weights``).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import List

import numpy as np
import torch

from wsss_zoo.classes import num_classes
from wsss_zoo.data.io import read_cam_npy, read_label_png, write_cam_npy, write_label_png
from wsss_zoo.errors import ConfigError
from wsss_zoo.fileio import atomic_write, atomic_write_text
from wsss_zoo.inputs import load_image

from ..distributed import barrier
from .base import Task, register_task


def save_npy(path: Path, obj) -> None:
    atomic_write(path, lambda f: np.save(f, obj, allow_pickle=True))  # our own dicts; reads are restricted


class PrepTask(Task):
    """A per-image job over the split; subclasses set ``suffix`` and implement :meth:`process`."""

    suffix = ".npy"
    always_redo = False

    @property
    def out(self) -> Path:
        return self.cfg.out_dir / self.params["output"]

    def done(self, image_id: str) -> bool:
        return not self.always_redo and (self.out / f"{image_id}{self.suffix}").is_file()

    def setup(self) -> None:
        """Load what the job needs (networks, input folders) once per process."""

    def process(self, item) -> None:
        raise NotImplementedError

    def load_network(self):
        import wsss_zoo

        if self.cfg.weights is None:
            raise ConfigError(f"{self.recipe.name} needs --weights PATH: the trained {self.recipe.load_as} checkpoint")
        return wsss_zoo.load(self.recipe.load_as, weights=str(self.cfg.weights), device=self.ctx.device)

    def run(self) -> dict:
        from tqdm import tqdm

        start = time.time()
        items = self.items()
        shard = items[self.ctx.rank::self.ctx.world_size]
        todo = [i for i in shard if not self.done(i.id)]
        self.setup()
        for item in tqdm(todo, desc=self.recipe.name, disable=not self.ctx.is_main, dynamic_ncols=True):
            self.process(item)
        barrier(self.ctx)
        report = {"recipe": self.recipe.name, "kind": self.kind, "images": len(items), "processed_rank0": len(todo),
                  "output": str(self.out), "inputs": self.inputs_used, "seconds": round(time.time() - start, 1),
                  "settings": dict(self.params)}
        if self.ctx.is_main:
            self.cfg.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.cfg.out_dir / f"{self.recipe.name}.json", json.dumps(report, indent=1, default=str))
        return report


@register_task("ir_labels")
class IrLabelsTask(PrepTask):
    """IRN ``step/cam_to_ir_label.py``: fg seeds at ``conf_fg``, bg seeds at ``conf_bg``, each through the CRF."""

    suffix = ".png"

    def setup(self):
        self.cams = self.input_dir("cams", ".npy")

    def process(self, item):
        from wsss_zoo.pipelines.irn import cam_to_ir_label

        ids, high_res = read_cam_npy(self.cams / f"{item.id}.npy")
        image = load_image(item.image, exif=False)
        if len(ids) == 0:  # COCO images without classes: upstream writes an all-zero label
            label = np.zeros(image.shape[:2], np.uint8)
        else:
            label = cam_to_ir_label(image, high_res, [int(i) for i in ids], self.params["conf_fg"],
                                    self.params["conf_bg"])
        write_label_png(self.out / f"{item.id}.png", label)


@register_task("crf_labels")
class CrfLabelsTask(PrepTask):
    """PSA ``infer_cls.py`` / SEAM ``infer_SEAM.py`` ``_crf_with_alpha``: bg = (1 - max cam)^alpha, the psa
    CRF (10 iterations) on [bg; present cams], saved as ``{0: bg, id: prob}`` for each alpha (la, ha)."""

    @property
    def outs(self) -> List[Path]:
        base = self.params["output"]
        return [self.cfg.out_dir / f"{base}_{tag}" for tag in ("la", "ha")]

    @property
    def out(self) -> Path:
        return self.outs[0]

    def done(self, image_id):
        return all((o / f"{image_id}.npy").is_file() for o in self.outs)

    def setup(self):
        self.cams = self.input_dir("cams", ".npy")

    def process(self, item):
        from wsss_zoo.crf import dense_crf_probs
        from wsss_zoo.pipelines.affinity import with_background

        ids, cams = read_cam_npy(self.cams / f"{item.id}.npy")
        image = load_image(item.image, exif=False)
        for alpha, folder in zip(self.params["alphas"], self.outs):
            scores = with_background(cams, alpha, num_classes(self.recipe.dataset))
            q = dense_crf_probs(image, scores, preset="psa")
            save_npy(folder / f"{item.id}.npy", {0: q[0], **{int(k): q[i + 1] for i, k in enumerate(ids)}})


@register_task("loc_maps")
class LocalizationMapsTask(PrepTask):
    """DRS ``scripts/localization_map_gen.py``: (C, S, S) uint8 ``floor(255 * map)`` in the square frame."""

    smoke_data = {"size": 64}

    def setup(self):
        self.model = self.load_network()

    def process(self, item):
        from wsss_zoo.pipelines.drs import SQUARE_SIZES, WORKING_SIZE, localization_maps

        size = int(self.params.get("size", WORKING_SIZE))
        sizes = tuple(int(round(s * size / WORKING_SIZE)) for s in SQUARE_SIZES)
        full = np.zeros((self.model.num_classes, size, size), np.float32)
        if item.labels:
            with torch.inference_mode():
                maps = localization_maps(self.model, load_image(item.image, exif=False), item.labels, sizes, size)
            full[np.asarray(item.labels) - 1] = maps.float().cpu().numpy()
        save_npy(self.out / f"{item.id}.npy", (full * 255).astype(np.uint8))


@register_task("cda_bank")
class CdaBankTask(PrepTask):
    """CDA ``step/make_aug_fg.py``: masks with a single foreground class covering 10-70 % of the image,
    cropped (image and mask) to the foreground's bounding box, saved as ``<class index>/<id>.npy``."""

    always_redo = True

    def setup(self):
        self.masks = self.input_dir("pseudo_masks")

    def process(self, item):
        seg = read_label_png(self.masks / f"{item.id}.png")
        classes = np.unique(seg)
        fraction = float((seg != 0).mean())
        if len(classes) != 2 or not self.params["min_fraction"] <= fraction <= self.params["max_fraction"]:
            return
        rows, cols = np.flatnonzero((seg != 0).any(1)), np.flatnonzero((seg != 0).any(0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        img = load_image(item.image, exif=False)[box]
        save_npy(self.out / str(int(classes[1]) - 1) / f"{item.id}.npy", {"img": img, "seg": seg[box]})


def boundary_maps(label: np.ndarray, n_channels: int, width: int) -> np.ndarray:
    """(C, H, W) float32 {0, 1}: channel c marks pixels within ``width`` of the contour of class c's region
    (morphological gradient); ignore (255) pixels belong to no class."""
    from scipy import ndimage

    out = np.zeros((n_channels,) + label.shape, np.float32)
    for c in np.unique(label):
        if c >= n_channels:
            continue
        region = label == c
        grown = ndimage.binary_dilation(region, iterations=width)
        shrunk = ndimage.binary_erosion(region, iterations=width, border_value=1)
        out[c] = grown & ~shrunk
    return out


@register_task("sbnet_boundary")
class SbnetBoundaryTask(PrepTask):
    """``sb_map/<id>.npy`` for SBNet's SB stage from label maps (pseudo masks or GT, see the README)."""

    def setup(self):
        self.masks = self.input_dir("masks", ".png")

    def process(self, item):
        label = read_label_png(self.masks / f"{item.id}.png")
        save_npy(self.out / f"{item.id}.npy",
                 boundary_maps(label, num_classes(self.recipe.dataset) + 1, int(self.params["width"])))


@register_task("rib_cams")
class RibCamsTask(PrepTask):
    """RIB ``obtain_RIB_CAM*.py`` over the split with :func:`wsss_zoo.pipelines.rib.rib_cam`, the split itself
    as the negative pool; IRN CAM dicts ``{"keys", "high_res"}``."""

    smoke_data = {"rib": {"steps": 2, "batch_size": 2, "crop_size": 64, "resize_long": (48, 80)}}

    def setup(self):
        from wsss_zoo.pipelines.rib import ImagePool

        self.model = self.load_network()
        items = self.items()
        self.pool = ImagePool([i.image for i in items], [list(i.labels) for i in items], self.recipe.dataset)

    def process(self, item):
        from wsss_zoo.pipelines.rib import rib_cam

        image = load_image(item.image, exif=False)
        if not item.labels:
            write_cam_npy(self.out / f"{item.id}.npy", [], np.zeros((0,) + image.shape[:2], np.float32), "irn")
            return
        seed = (self.cfg.run_seed * 1000003 + sum(map(ord, item.id))) % (2 ** 31)
        cams = rib_cam(self.model, image, list(item.labels), self.pool, seed=seed, **dict(self.params.get("rib", {})))
        write_cam_npy(self.out / f"{item.id}.npy", list(item.labels), cams, "irn")

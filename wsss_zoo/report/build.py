"""From an evaluation to the report file: pick the gallery images, load and shrink their pictures, write.

:func:`write_eval_report` is called by :func:`wsss_zoo.evaluate.evaluate_folders`, which passes its
runs (:class:`~wsss_zoo.report.page.RunReport`) and a ``load_prediction(run, image_id, shape)`` that
reads a prediction exactly as the evaluation did (label PNG resized by the convention, or CAMs at the
reported background threshold), so the gallery shows what was counted.
"""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np
from PIL import Image

from ..classes import CLASS_LISTS
from ..data.transforms import crop_val_image, crop_val_label
from ..errors import ConfigError, DatasetError
from . import software_versions, write_html
from .images import label_thumbnail, thumb_size
from .page import GalleryItem, ReportContext, RunReport, render_report
from .stats import difference_selection, gallery_selection

#: Longer side of the gallery pictures, in pixels.
THUMBNAIL = 200
#: Images per class added to the gallery for the class filter.
PER_CLASS = 2


def run_names(pred_dirs: Sequence[str]) -> List[str]:
    """Short, distinct labels for prediction folders: their names, or their last two path parts."""
    paths = [Path(p) for p in pred_dirs]
    for depth in (1, 2, 3):
        names = ["/".join(p.parts[-depth:]) or str(p) for p in paths]
        if len(set(names)) == len(names):
            return names
    return [f"run {i + 1}" for i in range(len(paths))]


def _fit(image: np.ndarray, size) -> np.ndarray:
    """A photograph resized (bilinear) to exactly ``size`` (W, H)."""
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    return np.asarray(Image.fromarray(image).resize(tuple(size), Image.BILINEAR))


def _picture(dataset, image_id: str, shape, crop_val: Optional[int]) -> np.ndarray:
    try:
        image = dataset.image(image_id)
    except DatasetError:  # the GT exists but the photograph does not: a grey stand-in keeps the report whole
        return np.full(tuple(shape) + (3,), 128, np.uint8)
    return crop_val_image(image, crop_val) if crop_val else image


def gallery_items(dataset, runs: Sequence[RunReport], load_prediction: Callable, *, k: int,
                  crop_val: Optional[int] = None, longest: int = THUMBNAIL) -> List[GalleryItem]:
    """The selected images (:func:`gallery_selection`, or :func:`difference_selection` for two runs) as
    thumbnails of the image, the GT and each run's prediction."""
    picks = (gallery_selection(runs[0].images, k, PER_CLASS) if len(runs) == 1
             else difference_selection(runs[0].images, runs[1].images, k, PER_CLASS))
    index = [{s.id: s for s in run.images} for run in runs]
    items = []
    for pick in picks:
        gt = dataset.gt(pick.id)
        if crop_val:
            gt = crop_val_label(gt, crop_val)
        size = thumb_size(gt.shape, longest)
        image = _fit(_picture(dataset, pick.id, gt.shape, crop_val), size)
        preds = [label_thumbnail(load_prediction(i, pick.id, gt.shape), longest) for i in range(len(runs))]
        items.append(GalleryItem(pick.id, pick.tags, image, label_thumbnail(gt, longest), preds,
                                 [ix[pick.id] for ix in index]))
    return items


def convention_summary(conv, crop_val: Optional[int] = None) -> dict:
    """The convention's rules as the report states them."""
    out = {"name": conv.name, "mean": conv.mean, "pred_out_of_range": conv.pred_out_of_range,
           "size_mismatch": conv.size_mismatch, "source": conv.source}
    if crop_val:
        out["view"] = (f"VainF --crop_val {crop_val}: shorter side resized to {crop_val} (nearest for the GT), "
                       f"then a {crop_val}x{crop_val} centre crop")
    return out


def write_eval_report(path, dataset, runs: List[RunReport], conv, load_prediction: Callable, *,
                      names: Optional[Sequence[str]] = None, crop_val: Optional[int] = None, k: int = 8,
                      command: str = "") -> Path:
    """Name the runs, gather the gallery and write the HTML report to ``path``."""
    names = list(names) if names else run_names([r.result.get("pred_dir", "") for r in runs])
    if len(names) != len(runs):
        raise ConfigError(f"{len(names)} run names (--name) for {len(runs)} prediction folders (--pred)")
    for run, name in zip(runs, names):
        run.name = name
    items = gallery_items(dataset, runs, load_prediction, k=k, crop_val=crop_val) if k > 0 else []
    first = runs[0].result
    ctx = ReportContext(dataset.name, dataset.split, list(CLASS_LISTS[dataset.name]),
                        convention_summary(conv, crop_val), gt_dir=str(first.get("gt_dir", "")), command=command,
                        versions=software_versions(),
                        created=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    return write_html(path, render_report(ctx, runs, items, k=k))

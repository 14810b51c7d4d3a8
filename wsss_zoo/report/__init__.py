"""A self-contained HTML report of an evaluation run (or of two runs side by side).

``wsss-zoo eval ... --report report.html`` and ``evaluate_folder(..., report="report.html")`` write it:
summary (mIoU, pixel accuracy, mean precision and recall, the evaluation convention spelled out, image
count, command, versions), a sortable per-class table with a bar chart, the row-normalised confusion
matrix, the threshold-sweep curve of CAM folders and a gallery of the worst and best images, filterable
by class. Two prediction folders give a comparison: per-class differences and the images where the
runs differ most. Docs: docs/report.md.

Modules: :mod:`.stats` (numbers), :mod:`.images` and :mod:`.charts` (pictures), :mod:`.page` (the
HTML), :mod:`.assets` (inline CSS and JS). All of them are pure; :func:`write_html` is the only writer.
"""
from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path
from typing import Dict

from ..fileio import atomic_write_text
from .page import GalleryItem, ReportContext, RunReport, render_report
from .stats import ImageStats, Pick, SweepImage, class_rows, difference_selection, gallery_selection

__all__ = ["GalleryItem", "ImageStats", "Pick", "ReportContext", "RunReport", "SweepImage", "class_rows",
           "difference_selection", "gallery_selection", "render_report", "software_versions", "write_html"]


def software_versions() -> Dict[str, str]:
    """Versions of wsss_zoo, Python and the libraries that shape the numbers (read without importing them)."""
    from .. import __version__

    out = {"wsss_zoo": __version__, "python": platform.python_version()}
    for dist in ("numpy", "pillow", "torch"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def write_html(path, html: str) -> Path:
    """Write the report ``html`` to ``path`` (atomically, never through a link: :mod:`wsss_zoo.fileio`)."""
    return atomic_write_text(path, html)

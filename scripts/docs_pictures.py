"""Render the pictures the docs show, from the example image and its drawn ground truth (no weights needed).

``docs/overlay.png`` is ``examples/cyclist.jpg`` with ``examples/cyclist_labels.png`` (the label map of
the same drawing, written by ``examples/make_example.py``) through :func:`wsss_zoo.viz.overlay_mask`:
what ``wsss-zoo pseudo-mask``/``segment`` write as ``NAME_overlay.png``, here for the ground truth
rather than a model's output.

    python scripts/docs_pictures.py            # rewrites the pictures
    python scripts/docs_pictures.py --check    # exit 1 when a committed picture differs from a fresh render
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
# fonts are rasterised by the installed FreeType: allow small anti-aliasing differences between versions
TOLERANCE = 2.0  # mean absolute difference per channel, 0..255


def render() -> Dict[str, np.ndarray]:
    """Picture arrays by path relative to the repository root."""
    from wsss_zoo import viz

    image = np.asarray(Image.open(ROOT / "examples" / "cyclist.jpg").convert("RGB"))
    labels = np.asarray(Image.open(ROOT / "examples" / "cyclist_labels.png"))
    return {"docs/overlay.png": viz.overlay_mask(image, labels, "voc", labels=[2, 15])}


def stale() -> List[str]:
    """Pictures missing or differing from a fresh render by more than :data:`TOLERANCE`."""
    out = []
    for name, picture in render().items():
        path = ROOT / name
        if not path.is_file():
            out.append(name)
            continue
        committed = np.asarray(Image.open(path).convert("RGB")).astype(np.float32)
        if committed.shape != picture.shape or np.abs(committed - picture).mean() > TOLERANCE:
            out.append(name)
    return out


def main(argv: List[str]) -> int:
    if argv[1:] == ["--check"]:
        names = stale()
        for name in names:
            print(f"{name} is stale: run python scripts/docs_pictures.py")
        return 1 if names else 0
    from wsss_zoo import viz

    for name, picture in render().items():
        viz.save_png(picture, ROOT / name)
        print(f"wrote {name} ({(ROOT / name).stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

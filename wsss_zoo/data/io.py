"""File formats of the datasets and of generated outputs: label PNGs and CAM ``.npy`` dicts.

* Label maps (GT masks, pseudo masks, segmentation outputs) are index PNGs: palette ('P') images as
  in VOC ``SegmentationClass`` or single-channel grey images as in ``SegmentationClassAug``; both
  read as their indices (foundations.md section 10.1). We write palette PNGs with the VOC palette.
* CAM files are pickled dicts saved with ``np.save`` (foundations.md section 10.3) in one of two
  upstream styles:

  - ``"psa"`` (PSA ``infer_cls.py``, SEAM ``infer_SEAM.py``, EPS ``infer.py``, SBNet ``infer_SB.py``):
    ``{fg_index: float32 HxW}`` for the present classes, fg_index = segmentation id - 1;
  - ``"irn"`` (IRN/CDA/RIB ``step/make_cam.py``): ``{"keys": int64 (K,), "high_res": float32 (K, H, W)}``
    (upstream also stores the stride-4 ``"cam"`` tensor and uses torch tensors for ``keys``; we store
    numpy arrays, which the upstream evaluation scripts read unchanged).

Every writer goes through :mod:`wsss_zoo.fileio` (a new file next to the target, then ``os.replace``),
so that a killed run never leaves a half-written file and a planted symbolic link is replaced, never
followed. CAM files are read with :func:`wsss_zoo.safe_pickle.load_npy_dict`, which refuses pickles
that would run code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Tuple

import numpy as np

from ..classes import pascal_palette
from ..errors import DatasetError
from ..fileio import atomic_save_image, atomic_write
from ..safe_pickle import load_npy_dict

CAM_STYLES = ("psa", "irn")


def read_label_png(path) -> np.ndarray:
    """Read a label PNG (palette or grey) as a uint8 HxW index array.

    RGB colour masks are refused: their colours are not class ids (convert them with the VOC palette first).
    Missing, truncated, damaged and oversized files raise :class:`DatasetError` naming the file.
    """
    from ..inputs import open_image_file

    path = Path(path)
    with open_image_file(path, DatasetError, "label PNG", exif=False, min_side=1) as im:
        mode = im.mode
        if mode in ("P", "L"):
            arr = np.asarray(im)
        elif mode in ("I", "I;16", "I;16B", "I;16L"):
            arr = np.asarray(im).astype(np.int64)
            if arr.size and (arr.min() < 0 or arr.max() > 255):
                raise DatasetError(f"{path} holds values outside 0..255; label PNGs hold class ids and 255")
        else:
            raise DatasetError(
                f"{path} is a {mode} image; label PNGs must be palette ('P') or grey ('L') index images "
                "whose values are class ids (0 background, 255 ignore), not colour renderings")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def label_image(label: np.ndarray):
    """A palette ('P') PIL image of a uint8 label map with the VOC colours (255 = (224, 224, 192))."""
    from PIL import Image

    arr = np.asarray(label)
    if arr.ndim != 2:
        raise ValueError(f"label map must be HxW, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError("label map values must lie in 0..255")
        arr = arr.astype(np.uint8)
    im = Image.fromarray(np.ascontiguousarray(arr))  # mode 'L', values are the indices
    im.putpalette(pascal_palette(256).reshape(-1).tolist())  # 'L' -> 'P' keeping the indices
    return im


def write_label_png(path, label: np.ndarray) -> None:
    """Atomically write a label map as a palette PNG with the VOC palette."""
    atomic_save_image(label_image(label), path, "PNG")


def cam_dict(ids, cams, style: str = "psa") -> dict:
    """The upstream CAM dict of ``cams`` [K, H, W] for segmentation ids ``ids`` (1..C) in ``style``."""
    cams = np.asarray(cams.detach().cpu().numpy() if hasattr(cams, "detach") else cams, dtype=np.float32)
    keys = np.asarray(list(ids), dtype=np.int64) - 1
    if cams.ndim != 3 or cams.shape[0] != len(keys):
        raise ValueError(f"cams must be [K, H, W] with K={len(keys)}, got {cams.shape}")
    if style == "psa":
        return {int(k): np.ascontiguousarray(cams[i]) for i, k in enumerate(keys)}
    if style == "irn":
        return {"keys": keys, "high_res": np.ascontiguousarray(cams)}
    raise ValueError(f"unknown CAM style {style!r}; choose one of {CAM_STYLES}")


def write_cam_npy(path, ids, cams, style: str = "psa") -> None:
    """Atomically save the CAM dict (``np.save`` of a pickled dict, as upstream)."""
    data = cam_dict(ids, cams, style)
    atomic_write(path, lambda f: np.save(f, data, allow_pickle=True))  # writing our own dict; reads are restricted


def read_cam_npy(path) -> Tuple[np.ndarray, np.ndarray]:
    """Read a CAM ``.npy`` of any upstream style; return ``(ids, cams)``.

    ``ids``: int64 (K,) segmentation ids (fg index + 1); ``cams``: float32 (K, H, W) at full resolution
    (IRN's ``high_res``). Accepts PSA/SEAM/EPS dicts ``{fg_index: HxW}`` and IRN dicts
    ``{"keys", "high_res"[, "cam"]}`` with numpy or torch values. An image without classes gives K = 0
    and cams of shape (0, 0, 0).
    """
    path = Path(path)
    obj = load_npy_dict(path, error=DatasetError, what="CAM dict")
    try:
        return _cam_arrays(obj, path)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise DatasetError(f"{path} is not a CAM dict of a known layout ({type(exc).__name__}: {str(exc)[:120]}); "
                           "expected np.save of {fg_index: HxW} (PSA/SEAM/EPS) or {'keys', 'high_res'} (IRN)") \
            from None


def _cam_arrays(obj: dict, path: Path) -> Tuple[np.ndarray, np.ndarray]:
    def _np(v):
        return v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)

    if "keys" in obj:
        keys = _np(obj["keys"]).astype(np.int64).reshape(-1)
        if "high_res" not in obj:
            if keys.size:
                raise DatasetError(f"{path} has 'keys' but no 'high_res' maps")
            return np.zeros(0, np.int64), np.zeros((0, 0, 0), np.float32)
        cams = _np(obj["high_res"]).astype(np.float32)
        if cams.ndim != 3 or cams.shape[0] != keys.size:
            raise DatasetError(f"{path}: 'high_res' has shape {cams.shape} for {keys.size} keys")
        return keys + 1, cams
    if not obj:
        return np.zeros(0, np.int64), np.zeros((0, 0, 0), np.float32)
    if not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in obj):
        raise DatasetError(f"{path}: CAM dict keys must be class indices, got {list(obj)[:5]}")
    keys = sorted(obj)
    cams = np.stack([_np(obj[k]).astype(np.float32) for k in keys])
    if cams.ndim != 3:
        raise DatasetError(f"{path}: CAM maps must be HxW, got shape {cams.shape[1:]}")
    return np.asarray(keys, np.int64) + 1, cams

"""Validation and normalisation of user inputs: images, image-level labels, saliency maps.

These run at the edge of every public function, so that bad input fails with a
:class:`~wsss_zoo.errors.WsssZooError` naming the fix instead of a deep traceback.
"""
from __future__ import annotations

import difflib
import os
import warnings
from pathlib import Path
from typing import Iterable, Mapping, Sequence, Type, Union

import numpy as np

from .classes import CLASS_ALIASES, CLASS_LISTS
from .errors import (ConfigError, InvalidImageError, InvalidLabelsError, SaliencyError, UnknownNameError,
                     WsssZooError)

ImageLike = Union[np.ndarray, "PIL.Image.Image", str, os.PathLike]

#: Smallest image side in pixels. Measured: every default CAM, pseudo-mask and segmentation recipe runs
#: on 2x2 images; 1-pixel sides fail deep inside (their 0.5 scale has 0 pixels).
MIN_SIDE = 2
#: Largest image (width x height) accepted by default: above every common camera (61 MP full frame,
#: 102 MP medium format) yet under Pillow's decompression-bomb error (2 x 89.5 MP), so that the clear
#: message below is what users see. Decoding takes about 3 bytes a pixel, twice. Override with the
#: environment variable ``WSSS_ZOO_MAX_PIXELS`` (e.g. ``300e6``); above Pillow's own limit, raise
#: ``PIL.Image.MAX_IMAGE_PIXELS`` as well.
DEFAULT_MAX_PIXELS = 128_000_000
_BLOCK_ELEMENTS = 1 << 19  # array conversions work on row blocks of about this many values


def max_pixels() -> int:
    """The pixel budget: ``WSSS_ZOO_MAX_PIXELS`` if set (a positive number), else :data:`DEFAULT_MAX_PIXELS`."""
    raw = os.environ.get("WSSS_ZOO_MAX_PIXELS", "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value >= 1 and value < 1e15):
        raise ConfigError(f"WSSS_ZOO_MAX_PIXELS must be a positive number of pixels (e.g. 300000000 or 3e8), "
                          f"got {raw!r}")
    return int(value)


def _check_size(width: int, height: int, what: str, error: Type[WsssZooError], min_side: int = MIN_SIDE) -> None:
    if width < min_side or height < min_side:
        raise error(f"{what} is {width}x{height} pixels; the networks need at least {min_side}x{min_side}")
    budget = max_pixels()
    if width * height > budget:
        raise error(f"{what} is {width}x{height} = {width * height / 1e6:.1f} megapixels, over the limit of "
                    f"{budget / 1e6:.1f}; downscale it, or raise the limit with WSSS_ZOO_MAX_PIXELS=<pixels>")


def open_image_file(path, error: Type[WsssZooError], what: str, exif: bool, min_side: int = MIN_SIDE):
    """Open, check and decode an image file; every failure becomes ``error`` naming the file.

    The size is checked from the header, before decoding (giant and decompression-bomb files);
    truncated and damaged files fail while decoding. Label maps pass ``min_side=1``.
    """
    from PIL import Image

    path = Path(path)
    if not path.exists():
        raise error(f"{what} not found: {path}")
    if not path.is_file():
        raise error(f"{what} {path} is not a regular file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own budget applies
            im = Image.open(path)
        try:
            _check_size(im.size[0], im.size[1], f"{what} {path}", error, min_side)
            im.load()
            upright = _upright(im) if exif else im
            if upright is not im:
                im.close()  # the turned copy holds the pixels
            return upright
        except BaseException:
            im.close()
            raise
    except WsssZooError:
        raise
    except Image.DecompressionBombError as exc:
        raise error(f"{what} {path} is too large to decode safely ({exc}); downscale it, or if it is genuine "
                    "raise PIL.Image.MAX_IMAGE_PIXELS and WSSS_ZOO_MAX_PIXELS") from None
    except Exception as exc:  # noqa: BLE001 - decoders raise OSError, SyntaxError, ValueError, struct.error...
        detail = str(exc).strip() or type(exc).__name__
        hint = "the file is truncated: copy or download it again" if "truncated" in detail else \
            "give a JPEG/PNG file"
        raise error(f"cannot read {what} {path} ({detail}); {hint}") from None


def _upright(im):
    """``ImageOps.exif_transpose`` when the EXIF orientation tag asks for a turn or flip (phone photos)."""
    from PIL import ImageOps

    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - an unreadable EXIF block: no orientation to honour
        warnings.warn("the image's EXIF data cannot be read; its orientation tag is ignored", stacklevel=3)
        return im
    return ImageOps.exif_transpose(im) if orientation in (2, 3, 4, 5, 6, 7, 8) else im


def _pil_array(im, target: str, error: Type[WsssZooError], what: str, saliency: bool) -> np.ndarray:
    """A PIL image as uint8 ``target`` ('RGB' or 'L') values.

    16-bit grey images ('I;16*') keep their high byte, like Pillow's own reading of 16-bit RGB PNGs
    (a plain ``.convert`` would clip them to white); 32-bit 'I' images holding 0..65535 are taken as
    16-bit too; float 'F' images follow the array rules of :func:`_to_uint8`.
    """
    mode = im.mode
    if not (mode.startswith("I;16") or mode in ("I", "F")):
        return np.asarray(im if mode == target else im.convert(target))
    values = np.asarray(im)
    if mode.startswith("I;16") or (mode == "I" and values.size and values.min() >= 0 and 255 < values.max() <= 65535):
        grey = (values.astype(np.uint16, copy=False) >> 8).astype(np.uint8)
    else:
        grey = _to_uint8(values, error, what, saliency=saliency)
    return np.repeat(grey[:, :, None], 3, axis=2) if target == "RGB" else grey


def _value_range(arr: np.ndarray):
    """``(min, max, has NaN)`` of a non-empty array, float arrays block by block."""
    if arr.dtype.kind != "f":
        return arr.min(), arr.max(), False
    low, high, nan = np.inf, -np.inf, False
    for block in _row_blocks(arr):
        if block.size:
            low = min(low, np.fmin.reduce(block, axis=None))
            high = max(high, np.fmax.reduce(block, axis=None))
            nan = nan or bool(np.isnan(block).any())
    return low, high, nan


def _to_uint8(arr: np.ndarray, error: Type[WsssZooError], what: str, *, saliency: bool = False) -> np.ndarray:
    """Values of any numeric dtype as uint8, block by block (never a full-size float64 copy).

    * uint8: unchanged; other integers and floats must lie in 0..255 (floats are rounded);
    * uint16 holds 16-bit images (0..65535): the high byte is kept, as Pillow does for 16-bit RGB PNGs
      and OpenCV for 16-bit files. A uint16 array whose values all fit 0..255 is ambiguous (8-bit values
      in a 16-bit type, or a 16-bit image that is almost black) and refused;
    * images: floats in 0..1 are refused (multiply by 255 first), and so are booleans;
    * saliency maps: any non-uint8 map (booleans too) whose values lie in 0..1 is scaled by 255.
    """
    if arr.dtype == np.uint8:
        return arr
    kind = arr.dtype.kind
    if kind not in "uif" and not (saliency and kind == "b"):
        raise error(f"{what} has dtype {arr.dtype}, which is not an image type; pass uint8 values 0..255")
    if not arr.size:
        return arr.astype(np.uint8)
    low, high, nan = _value_range(arr)
    unit = saliency and not nan and low >= 0 and high <= 1
    if arr.dtype == np.uint16 and not unit:
        if high > 255:
            return (arr >> 8).astype(np.uint8)
        raise error(f"{what} is uint16 but all its values fit 0..255: if they are 8-bit values, pass "
                    ".astype(np.uint8); 16-bit images use the range 0..65535")
    if kind == "f" and not saliency and 0 < high <= 1:
        raise error(f"{what} looks like floats in 0..1; multiply by 255 and cast to uint8")
    if nan or low < 0 or high > 255:
        span = "0..255, or 0..1 for non-uint8 maps" if saliency else "0..255 (uint8 RGB); rescale float images first"
        raise error(f"{what} values must lie in {span} (got {low}..{high}{', NaN' if nan else ''})")
    if kind != "f" and not unit:
        return arr.astype(np.uint8)
    if unit:
        return _scale_unit_to_uint8(arr)
    out = np.empty(arr.shape, np.uint8)
    step = _rows_per_block(arr)
    for i in range(0, arr.shape[0], step):
        out[i:i + step] = np.round(arr[i:i + step])
    return out


def _rows_per_block(arr: np.ndarray) -> int:
    return max(1, _BLOCK_ELEMENTS // max(1, arr[:1].size))


def _row_blocks(arr: np.ndarray) -> list:
    step = _rows_per_block(arr)
    return [arr[i:i + step] for i in range(0, arr.shape[0], step)]


def load_image(image: ImageLike, *, exif: bool = True) -> np.ndarray:
    """Return the image as a C-contiguous HxWx3 uint8 RGB array.

    Accepts an HxWx3(x4) or HxW array, a PIL image (any mode, converted to RGB as upstream loaders do
    with ``.convert('RGB')``), a torch tensor or a path.

    Torch tensors (any device): 3-D tensors are CHW when the first dimension is 3 and the last is not,
    HWC otherwise; so a 3x3xN tensor is CHW (3 rows of N pixels) and a 3x3x3 tensor is HWC. 2-D
    tensors are grey HxW. ``torch.uint8`` values are taken as they are; floating tensors must hold values
    in [0, 1] (torchvision's ``to_tensor`` convention) and are scaled by 255 and rounded; anything else
    (other dtypes, floats outside [0, 1] or NaN, batches NxCxHxW, other channel counts) is refused. Files and PIL images are turned upright by their EXIF
    orientation tag (phone photos; ``exif=False`` keeps the stored pixels, as the upstream dataset
    loaders do); 16-bit files keep their high byte. Array values follow :func:`_to_uint8`: uint8, other
    integers or floats within 0..255, or uint16 holding a 16-bit image. Images must be at least
    :data:`MIN_SIDE` pixels a side and at most :func:`max_pixels` pixels in all.
    """
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        with open_image_file(image, InvalidImageError, "image", exif) as im:
            return np.ascontiguousarray(_pil_array(im, "RGB", InvalidImageError, f"image {image}", False))
    if isinstance(image, Image.Image):
        _check_size(image.size[0], image.size[1], "image", InvalidImageError)
        try:
            upright = _upright(image) if exif else image
            return np.ascontiguousarray(_pil_array(upright, "RGB", InvalidImageError, "image", False))
        except WsssZooError:
            raise
        except Exception as exc:  # noqa: BLE001 - a lazily opened image decodes here (truncated files)
            raise InvalidImageError(f"cannot decode the PIL image ({str(exc).strip() or type(exc).__name__})") \
                from None
    if hasattr(image, "detach") and hasattr(image, "cpu"):  # torch tensor
        return _tensor_image(image)
    if isinstance(image, (dict, set, bytes, bytearray)):
        raise InvalidImageError(f"image is a {type(image).__name__}; pass an HxWx3 uint8 array, a PIL image or a path")
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise InvalidImageError(
            f"image must be HxWx3 (RGB), got shape {tuple(arr.shape)}; "
            "channels-first arrays must be transposed to HxWxC")
    _check_size(arr.shape[1], arr.shape[0], "image", InvalidImageError)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    arr = _to_uint8(arr, InvalidImageError, "image")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr)


def _tensor_image(tensor) -> np.ndarray:
    """A torch tensor image as HxWx3 uint8 (the rule of :func:`load_image`)."""
    import torch

    shape = tuple(tensor.shape)
    if tensor.dim() == 3 and shape[0] == 3 and shape[2] != 3:
        tensor = tensor.permute(1, 2, 0)  # CHW
    elif not (tensor.dim() == 2 or (tensor.dim() == 3 and shape[2] == 3)):
        batch = " (a batch: pass a list, or tensor[i] for one image)" if tensor.dim() == 4 else ""
        raise InvalidImageError(f"image tensor has shape {shape}{batch}; give 3xHxW (CHW), HxWx3 (HWC) or HxW")
    _check_size(tensor.shape[1], tensor.shape[0], "image", InvalidImageError)
    tensor = tensor.detach()
    if tensor.dtype == torch.uint8:
        arr = tensor.cpu().numpy()
    elif tensor.is_floating_point():
        low, high = (float(v) for v in torch.aminmax(tensor.float()))  # NaN propagates into both
        if not (0.0 <= low and high <= 1.0):
            raise InvalidImageError(
                f"float image tensors hold values in 0..1 (torchvision's convention), got {low:g}..{high:g}; "
                "for 0..255 values cast to torch.uint8 first")
        arr = _scale_unit_to_uint8(tensor.cpu().numpy() if tensor.dtype in (torch.float32, torch.float64)
                                   else tensor.cpu().float().numpy())
    else:
        raise InvalidImageError(f"image tensor has dtype {tensor.dtype}; give torch.uint8 (0..255) or a float "
                                "dtype with values in 0..1")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr)


def _scale_unit_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Values in 0..1 times 255, rounded (in float64, block by block)."""
    out = np.empty(arr.shape, np.uint8)
    step = _rows_per_block(arr)
    for i in range(0, arr.shape[0], step):
        block = arr[i:i + step]  # rebinding first frees the previous float64 block before the next one
        block = block.astype(np.float64)
        block *= 255.0
        out[i:i + step] = np.round(block, out=block)
    return out


def _class_names(dataset: str) -> Sequence[str]:
    try:
        return CLASS_LISTS[dataset]
    except KeyError:
        raise UnknownNameError(f"unknown dataset {dataset!r}; choose one of {sorted(CLASS_LISTS)}") from None


def class_id(name: str, dataset: str) -> int:
    """Segmentation id (1..C) of a class name; accepts common alternative spellings."""
    names = _class_names(dataset)
    key = name.strip().lower().replace("_", " ")
    lookup = {n.lower(): i for i, n in enumerate(names)}
    if key in lookup and lookup[key] > 0:
        return lookup[key]
    alias = CLASS_ALIASES.get(dataset, {}).get(key)
    if alias is not None:
        return lookup[alias]
    squashed = {n.lower().replace(" ", ""): i for i, n in enumerate(names)}
    if key.replace(" ", "") in squashed and squashed[key.replace(" ", "")] > 0:
        return squashed[key.replace(" ", "")]
    close = difflib.get_close_matches(key, [n for n in names[1:]], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; valid names: {', '.join(names[1:])}"
    raise InvalidLabelsError(f"{name!r} is not a {dataset.upper()} class{hint}")


def parse_labels(labels, dataset: str) -> list:
    """Normalise image-level labels to a sorted list of distinct segmentation ids (1..C).

    ``labels`` may be ids (VOC 1..20, COCO 1..80), class names, a comma-separated string of either,
    or a multi-hot vector of length C (the upstream ``cls_labels.npy`` convention).

    The rule between ids and multi-hot vectors: a 1-D numpy array (or torch tensor) of length C whose
    values are all 0 or 1, of any numeric or boolean dtype, is a multi-hot vector; Python lists and
    tuples are always ids (``[1, 1, 0, ...]`` is refused, with a hint to pass ``np.array(...)``).
    A dict is refused: whether its keys or its values are the labels is anyone's guess.
    """
    names = _class_names(dataset)
    n_cls = len(names) - 1
    if labels is None:
        raise InvalidLabelsError("labels are required: give class ids or names present in the image")
    if isinstance(labels, Mapping):
        raise InvalidLabelsError(
            f"labels are a dict ({_short(labels)}); give a list of class names or ids, e.g. "
            f"{list(labels)[:3]!r} if its keys are the classes present")
    if isinstance(labels, (bytes, bytearray)):
        raise InvalidLabelsError("labels are bytes; give a str (decode it) or a list of class names or ids")
    if isinstance(labels, str):
        labels = [p for p in labels.replace(";", ",").split(",") if p.strip()]
    elif hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    if isinstance(labels, np.ndarray):
        if labels.ndim == 1 and labels.shape[0] == n_cls and labels.dtype.kind in "biuf" and set(
                np.unique(labels).tolist()) <= {0, 1}:
            labels = (np.nonzero(labels)[0] + 1).tolist()
        else:
            labels = labels.reshape(-1).tolist()
    if not isinstance(labels, Iterable):
        labels = [labels]
    labels = list(labels)
    ids = set()
    for item in labels:
        if isinstance(item, (np.integer, int)) and not isinstance(item, (bool, np.bool_)):
            value = int(item)
        elif isinstance(item, (float, np.floating)) and float(item).is_integer():
            value = int(item)
        elif isinstance(item, str):
            text = item.strip()
            value = int(text) if text.lstrip("-").isdigit() else class_id(text, dataset)
        else:
            raise InvalidLabelsError(f"label {_short(item)} is neither a class id nor a class name")
        if not 1 <= value <= n_cls:
            extra = " (0 is background and is never a label)" if value == 0 else ""
            if len(labels) == n_cls and all(isinstance(x, (int, float, np.number)) and x in (0, 1) for x in labels):
                extra += (f"; this list of {n_cls} zeros and ones looks like a multi-hot vector: pass it as "
                          "np.array(...) (lists are read as class ids)")
            raise InvalidLabelsError(
                f"label id {value} is outside {dataset.upper()}'s classes 1..{n_cls}{extra}")
        ids.add(value)
    if not ids:
        raise InvalidLabelsError("labels are empty: give at least one class present in the image")
    return sorted(ids)


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def label_vector(ids: Sequence[int], dataset: str) -> np.ndarray:
    """Multi-hot float32 vector of length C (classification indices = id - 1)."""
    vec = np.zeros(len(_class_names(dataset)) - 1, dtype=np.float32)
    vec[np.asarray(ids, dtype=np.int64) - 1] = 1.0
    return vec


def load_saliency(saliency, shape, *, exif: bool = True) -> np.ndarray:
    """Return a saliency map as an HxW uint8 array (0..255) of the image's size.

    ``saliency`` may be a path, a PIL image or an array: uint8 0..255, float 0..1 (scaled by 255) or
    0..255, uint16 16-bit. Files go through the checks of :func:`load_image` (size limits, EXIF
    orientation unless ``exif=False``, 16-bit, truncated or damaged files).
    """
    from PIL import Image

    if saliency is None:
        raise SaliencyError(
            "this pipeline needs a saliency map (HxW, 0..255) for the image; pass saliency=<path or array> "
            "(DRS uses the maps of its saliency_map.zip release asset)")
    if isinstance(saliency, (str, os.PathLike)):
        with open_image_file(saliency, SaliencyError, "saliency map", exif) as im:
            arr = _pil_array(im, "L", SaliencyError, f"saliency map {saliency}", True)
    elif isinstance(saliency, Image.Image):
        _check_size(saliency.size[0], saliency.size[1], "saliency map", SaliencyError)
        try:
            arr = _pil_array(_upright(saliency) if exif else saliency, "L", SaliencyError, "saliency map", True)
        except WsssZooError:
            raise
        except Exception as exc:  # noqa: BLE001 - lazily opened PIL images decode here
            raise SaliencyError(f"cannot decode the saliency image ({str(exc).strip() or type(exc).__name__})") \
                from None
    else:
        arr = np.asarray(saliency)
        if arr.ndim == 3 and arr.shape[2] in (1, 3, 4):
            arr = arr[:, :, 0]
        if arr.ndim != 2:
            raise SaliencyError(f"saliency must be an HxW map, got shape {tuple(arr.shape)}")
        arr = _to_uint8(arr, SaliencyError, "saliency map", saliency=True)
    h, w = shape[:2]
    if arr.shape != (h, w):
        raise SaliencyError(
            f"saliency map is {arr.shape[0]}x{arr.shape[1]} but the image is {h}x{w}; "
            "give the map computed for this image at its original size")
    return np.ascontiguousarray(arr)

"""The upstream training augmentations, as functions on numpy arrays (HxW[xC]).

Random draws use Python's ``random`` module like upstream (the DataLoader seeds it per worker), except
where upstream used ``np.random`` (CDA's class/instance choice). ``scipy.misc.imresize`` and
``skimage`` resizes are replaced by PIL / scipy with the same semantics (noted per function).
"""
from __future__ import annotations

import random
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from wsss_zoo.pipelines.preprocess import normalize_caffe_bgr, normalize_imagenet, pil_resize, scaled_size

Array = np.ndarray


# ------------------------------------------------------------------------------------ normalisation
def imagenet_hwc(image: Array) -> Array:
    """uint8 RGB -> float32 HxWx3 ``(v/255 - mean)/std`` (PSA/EPS ``Normalize``, IRN ``TorchvisionNormalize``)."""
    return np.ascontiguousarray(normalize_imagenet(image).numpy().transpose(1, 2, 0))


def caffe_bgr_hwc(image: Array) -> Array:
    """uint8 RGB -> float32 HxWx3 BGR minus the Caffe mean (kazuto1011 DeepLab-V2)."""
    return np.ascontiguousarray(normalize_caffe_bgr(image).numpy().transpose(1, 2, 0))


def to_chw(image: Array) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


# ------------------------------------------------------------------------------------ resizing
def resize_long(image: Array, target_long: int, resample: str = "bicubic") -> Array:
    """Long side to ``target_long``, short side ``int(round(short * L / long))`` (PSA/EPS ``RandomResizeLong``,
    IRN ``random_resize_long``), PIL bicubic (``Image.CUBIC``)."""
    h, w = image.shape[:2]
    if w < h:
        size = (target_long, int(round(w * target_long / h)))
    else:
        size = (int(round(h * target_long / w)), target_long)
    return pil_resize(image, size, resample)


def random_resize_long(image: Array, lo: int, hi: int, resample: str = "bicubic") -> Array:
    """``resize_long`` to an integer drawn uniformly from ``[lo, hi]`` (``random.randint``)."""
    return resize_long(image, random.randint(lo, hi), resample)


def random_rescale(image: Array, label: Optional[Array], lo: float, hi: float):
    """IRN ``random_scale``: one factor ``s ~ U(lo, hi)``; image PIL bicubic, label nearest, sizes
    ``(round(H s), round(W s))`` (``pil_rescale``)."""
    s = lo + random.random() * (hi - lo)
    size = scaled_size(*image.shape[:2], s)
    image = image if size == image.shape[:2] else pil_resize(image, size, "bicubic")
    if label is not None and size != label.shape[:2]:
        label = pil_resize(label, size, "nearest")
    return image, label


def resize_square(image: Array, size: int, resample: str = "bilinear") -> Array:
    """DRS ``Resize(size)``: a square ``size x size`` image, aspect ratio ignored (PIL)."""
    return pil_resize(image, (size, size), resample)


def resize_float_linear(image: Array, size: Tuple[int, int]) -> Array:
    """cv2 ``INTER_LINEAR`` on a float image (kazuto ``_augmentation``): half-pixel bilinear, no antialiasing."""
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()
    y = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return np.ascontiguousarray(y[0].numpy().transpose(1, 2, 0))


def resize_spline_maps(maps: Array, size: Tuple[int, int]) -> Array:
    """skimage ``transform.resize(maps, (C, h, w), order=3, mode='edge')`` for float C x H x W maps (SBNet
    ``myutils_20.RandomResizeLong``): cubic spline on pixel centres, edge extension, skimage's Gaussian
    anti-aliasing (sigma = (1/scale - 1)/2) when shrinking, output clipped to the input range."""
    from scipy import ndimage

    maps = np.asarray(maps, dtype=np.float64)
    lo, hi = (float(maps.min()), float(maps.max())) if maps.size else (0.0, 0.0)
    c, h, w = maps.shape
    th, tw = size
    factors = np.array([h / th, w / tw])
    sigma = np.maximum(0.0, (factors - 1) / 2)
    if np.any(sigma > 0):
        maps = ndimage.gaussian_filter(maps, sigma=(0.0, *sigma), mode="nearest")
    ys = (np.arange(th) + 0.5) * factors[0] - 0.5
    xs = (np.arange(tw) + 0.5) * factors[1] - 0.5
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    out = np.stack([ndimage.map_coordinates(m, [grid_y, grid_x], order=3, mode="nearest") for m in maps])
    return np.clip(out, lo, hi).astype(np.float32)


# ------------------------------------------------------------------------------------ flips and crops
def random_hflip(*arrays: Array) -> List[Array]:
    """Flip all arrays left-right together with probability 1/2 (``random.getrandbits(1)``)."""
    if bool(random.getrandbits(1)):
        return [np.ascontiguousarray(np.flip(a, axis=1)) for a in arrays]
    return list(arrays)


def crop_box(size: Tuple[int, int], crop: int) -> Tuple[int, ...]:
    """IRN ``get_random_crop_box`` / PSA ``RandomCrop``: a random window, or a random placement of a smaller
    image inside the crop. Returns (cont_top, cont_bottom, cont_left, cont_right, img_top, img_bottom,
    img_left, img_right)."""
    h, w = size
    ch, cw = min(crop, h), min(crop, w)
    w_space, h_space = w - crop, h - crop
    if w_space > 0:
        cont_left, img_left = 0, random.randrange(w_space + 1)
    else:
        cont_left, img_left = random.randrange(-w_space + 1), 0
    if h_space > 0:
        cont_top, img_top = 0, random.randrange(h_space + 1)
    else:
        cont_top, img_top = random.randrange(-h_space + 1), 0
    return cont_top, cont_top + ch, cont_left, cont_left + cw, img_top, img_top + ch, img_left, img_left + cw


def random_crop(arrays: Sequence[Array], crop: int, fills: Sequence[float], channels_first: Sequence[bool] = ()
                ) -> List[Array]:
    """Crop every array with the same random box into a ``crop x crop`` container filled with its fill value
    (PSA ``RandomCrop``: 0 in normalised space; IRN ``random_crop``: image 0, label 255)."""
    first = arrays[0]
    box = crop_box(first.shape[:2], crop)
    out = []
    for i, (a, fill) in enumerate(zip(arrays, fills)):
        cf = channels_first[i] if i < len(channels_first) else False
        if cf:
            cont = np.full((a.shape[0], crop, crop), fill, dtype=a.dtype)
            cont[:, box[0]:box[1], box[2]:box[3]] = a[:, box[4]:box[5], box[6]:box[7]]
        else:
            cont = np.full((crop, crop) + a.shape[2:], fill, dtype=a.dtype)
            cont[box[0]:box[1], box[2]:box[3]] = a[box[4]:box[5], box[6]:box[7]]
        out.append(cont)
    return out


def top_left_crop(image: Array, crop: int, fill: float) -> Array:
    """IRN ``top_left_crop``: the top-left ``crop x crop`` window, padded with ``fill``."""
    h, w = image.shape[:2]
    cont = np.full((crop, crop) + image.shape[2:], fill, dtype=image.dtype)
    cont[:min(crop, h), :min(crop, w)] = image[:crop, :crop]
    return cont


def pad_bottom_right(image: Array, label: Array, crop: int, image_fill, label_fill: int):
    """kazuto ``_augmentation`` padding: bottom/right to at least ``crop`` (``cv2.copyMakeBorder``)."""
    h, w = label.shape
    ph, pw = max(crop - h, 0), max(crop - w, 0)
    if ph == 0 and pw == 0:
        return image, label
    img = np.empty((h + ph, w + pw, image.shape[2]), image.dtype)
    img[...] = np.asarray(image_fill, dtype=image.dtype)
    img[:h, :w] = image
    lbl = np.full((h + ph, w + pw), label_fill, label.dtype)
    lbl[:h, :w] = label
    return img, lbl


def random_window(image: Array, label: Array, crop: int):
    """kazuto crop: ``start = randint(0, H - crop)`` on an already padded pair."""
    h, w = label.shape
    top, left = random.randint(0, h - crop), random.randint(0, w - crop)
    return image[top:top + crop, left:left + crop], label[top:top + crop, left:left + crop]


def vainf_scale(image: Array, label: Array, lo: float, hi: float):
    """VainF ``ExtRandomScale``: ``s ~ U(lo, hi)``, size ``(int(H s), int(W s))``; image PIL bilinear, label nearest."""
    s = random.uniform(lo, hi)
    size = (int(image.shape[0] * s), int(image.shape[1] * s))
    return pil_resize(image, size, "bilinear"), pil_resize(label, size, "nearest")


def vainf_crop(image: Array, label: Array, crop: int, label_fill: int = 0):
    """VainF ``ExtRandomCrop(crop, pad_if_needed=True)``: a short side is padded on **all four** sides by
    ``int((1 + crop - side) / 2)`` (image 0 and, upstream, label 0 = background), then a random window."""
    def pad(img, lbl, p):
        img = np.pad(img, ((p, p), (p, p), (0, 0)))
        lbl = np.pad(lbl, ((p, p), (p, p)), constant_values=label_fill)
        return img, lbl

    if image.shape[1] < crop:
        image, label = pad(image, label, int((1 + crop - image.shape[1]) / 2))
    if image.shape[0] < crop:
        image, label = pad(image, label, int((1 + crop - image.shape[0]) / 2))
    h, w = label.shape
    if (h, w) == (crop, crop):
        return image, label
    top, left = random.randint(0, h - crop), random.randint(0, w - crop)
    return image[top:top + crop, left:left + crop], label[top:top + crop, left:left + crop]


# ------------------------------------------------------------------------------------ colour
_JITTER = None


def color_jitter(image: Array) -> Array:
    """torchvision ``ColorJitter(0.3, 0.3, 0.3, 0.1)`` on the PIL image (PSA, SEAM, EPS, SBNet, DRS; DRS's copy
    of torchvision's hue shift wraps the uint8 hue like torchvision does)."""
    global _JITTER
    from PIL import Image

    if _JITTER is None:
        from torchvision.transforms import ColorJitter

        _JITTER = ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1)
    return np.asarray(_JITTER(Image.fromarray(image)))


# ------------------------------------------------------------------------------------ labels
def block_mean(maps: Array, block: int) -> Array:
    """skimage ``block_reduce(maps, (block, block, 1), np.mean)`` on HxWxC (PSA/SEAM affinity labels);
    trailing rows/columns are zero-padded to a whole block, like skimage."""
    h, w = maps.shape[:2]
    ph, pw = -h % block, -w % block
    if ph or pw:
        maps = np.pad(maps, ((0, ph), (0, pw)) + ((0, 0),) * (maps.ndim - 2))
    hh, ww = maps.shape[0] // block, maps.shape[1] // block
    return maps.reshape(hh, block, ww, block, *maps.shape[2:]).mean(axis=(1, 3))


def nearest_rescale(label: Array, scale: float) -> Array:
    """IRN ``pil_rescale(label, scale, order=0)``."""
    size = scaled_size(*label.shape[:2], scale)
    return label if size == label.shape[:2] else pil_resize(label, size, "nearest")


# ------------------------------------------------------------------------------------ CDA paste
def paste_instance(background: Array, fg_image: Array, fg_mask: Array, max_fraction: float = 0.7) -> Array:
    """CDA ``imutils.data_aug_rotation``: rotate the instance by a random integer angle in [-90, 90]
    (``scipy.ndimage.rotate``, cubic spline, canvas grows, 0 fill), shrink it to at most 0.7 of the
    background's height and width (aspect kept, ``int()`` sizes), resize both with PIL bilinear (the
    ``scipy.misc.imresize`` that upstream used; uint8 masks are not rescaled), and hard-paste its pixels where
    the mask is non-zero at a uniformly random position."""
    from scipy import ndimage

    out = background.copy()
    angle = random.randint(-90, 90)
    fg_image = ndimage.rotate(fg_image, angle)
    fg_mask = ndimage.rotate(fg_mask, angle)
    fh, fw = float(fg_image.shape[0]), float(fg_image.shape[1])
    aspect = fw / fh
    if out.shape[0] * max_fraction < fh:
        fh = out.shape[0] * max_fraction
        fw = fh * aspect
    if out.shape[1] * max_fraction < fw:
        fw = out.shape[1] * max_fraction
        fh = fw / aspect
    size = (max(1, int(fh)), max(1, int(fw)))
    fg_image = pil_resize(np.ascontiguousarray(fg_image), size, "bilinear")
    fg_mask = pil_resize(np.ascontiguousarray(fg_mask), size, "bilinear")
    row = random.randint(0, out.shape[0] - size[0])
    col = random.randint(0, out.shape[1] - size[1])
    region = out[row:row + size[0], col:col + size[1]]
    keep = fg_mask != 0
    region[keep] = fg_image[keep]
    return out


def as_uint8_label(label: Union[Array, None]) -> Optional[Array]:
    return None if label is None else np.ascontiguousarray(label, dtype=np.uint8)

"""Geometry and colour rules behind :mod:`wsss_zoo.viz`: where a region's name goes, which classes need hatching.

* :func:`label_anchors` -- one point inside each connected region of a label map, the pixel farthest
  from the region's boundary (a plain centroid can fall outside a concave region);
* :func:`delta_e2000` / :func:`confusable_pairs` / :func:`hatch_styles` -- the PASCAL VOC palette gives
  near-identical colours to some classes (bicycle, cow, sofa and train are four greens; bus and
  motorbike two teals); classes whose palette colours lie closer than :data:`CONFUSABLE_DELTA_E`
  (CIEDE2000) get different hatch patterns so that they stay apart in an overlay and its legend.

Pure numpy, no scipy or OpenCV: the CLI draws pictures with the core dependencies only.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, List, Sequence, Tuple

import numpy as np

IGNORE = 255
# CIEDE2000 distance under which two palette colours count as confusable. The overlay blends the
# colour at 60 % over the photo, which shrinks every difference, so the bar sits well above the
# "just noticeable" 2-3: the VOC greens (bicycle/cow/sofa/train: 4.8 to 23.8) fall under it.
CONFUSABLE_DELTA_E = 25.0
# hatch patterns, in the order they are handed out; 0 is a plain fill
HATCHES = ("plain", "diagonal", "antidiagonal", "horizontal", "vertical", "cross")
_WORK_SIDE = 160  # label maps are searched at most this many pixels on a side (placement needs no more)


# --------------------------------------------------------------------------- colour
def srgb_to_lab(rgb) -> np.ndarray:
    """sRGB (0..255, [..., 3]) -> CIELAB under D65 (the sRGB white point)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = c @ np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]]).T
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    eps = (6 / 29) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def delta_e2000(lab1, lab2) -> np.ndarray:
    """CIEDE2000 colour difference of CIELAB colours (broadcasting over leading axes).

    Sharma, Wu & Dalal, "The CIEDE2000 color-difference formula: implementation notes,
    supplementary test data, and mathematical observations", Color Res. Appl. 30 (2005).
    """
    L1, a1, b1 = np.moveaxis(np.asarray(lab1, np.float64), -1, 0)
    L2, a2, b2 = np.moveaxis(np.asarray(lab2, np.float64), -1, 0)
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25.0 ** 7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    h1, h2 = np.degrees(np.arctan2(b1, a1)) % 360, np.degrees(np.arctan2(b2, a2)) % 360
    chroma0 = c1 * c2 == 0
    dh = h2 - h1
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(chroma0, 0.0, dh)
    d_big_h = 2 * np.sqrt(c1 * c2) * np.sin(np.radians(dh / 2))
    h_sum = h1 + h2
    h_mean = np.where(chroma0, h_sum, np.where(np.abs(h1 - h2) <= 180, h_sum / 2,
                                               np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)))
    t = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))
    l_mean, c_mean = (L1 + L2) / 2, (c1 + c2) / 2
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * c_mean
    s_h = 1 + 0.015 * c_mean * t
    r_t = (-2 * np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25.0 ** 7))
           * np.sin(np.radians(60 * np.exp(-(((h_mean - 275) / 25) ** 2)))))
    dl, dc, dhh = (L2 - L1) / s_l, (c2 - c1) / s_c, d_big_h / s_h
    return np.sqrt(dl ** 2 + dc ** 2 + dhh ** 2 + r_t * dc * dhh)


def confusable_pairs(labels: Sequence[int], palette: np.ndarray,
                     threshold: float = CONFUSABLE_DELTA_E) -> List[Tuple[int, int]]:
    """Pairs of ``labels`` (ignore excluded) whose palette colours are closer than ``threshold`` (CIEDE2000)."""
    labels = [int(v) for v in labels if v != IGNORE]
    lab = srgb_to_lab(palette[labels]) if labels else np.zeros((0, 3))
    return [(a, b) for i, a in enumerate(labels) for j, b in enumerate(labels)
            if i < j and float(delta_e2000(lab[i], lab[j])) < threshold]


def hatch_styles(labels: Sequence[int], palette: np.ndarray,
                 threshold: float = CONFUSABLE_DELTA_E) -> Dict[int, int]:
    """Hatch pattern index (into :data:`HATCHES`) per label: any two confusable labels get different ones.

    Greedy colouring in label order, so a class keeps the plain fill unless it is confusable with a
    class listed before it; ignore is always plain (it is drawn in a neutral way of its own).
    """
    near: Dict[int, set] = {int(v): set() for v in labels}
    for a, b in confusable_pairs(labels, palette, threshold):
        near[a].add(b)
        near[b].add(a)
    styles: Dict[int, int] = {}
    for label in sorted(near):
        taken = {styles[n] for n in near[label] if n in styles}
        styles[label] = next(i for i in range(len(near) + 1) if i not in taken) % len(HATCHES)
    return styles


# --------------------------------------------------------------------------- regions
def _neighbour_min(values: np.ndarray, fill) -> np.ndarray:
    """Minimum over each pixel's 3x3 neighbourhood (``fill`` outside the array)."""
    h, w = values.shape
    padded = np.pad(values, 1, constant_values=fill)
    out = values.copy()
    for dy in range(3):
        for dx in range(3):
            np.minimum(out, padded[dy:dy + h, dx:dx + w], out=out)
    return out


def components(region: np.ndarray) -> np.ndarray:
    """8-connected components of a boolean map: int32 ids 1..N in raster order of first pixel, 0 elsewhere."""
    region = np.asarray(region, dtype=bool)
    h, w = region.shape
    big = h * w
    ids = np.where(region, np.arange(big, dtype=np.int64).reshape(h, w), big)
    while True:
        new = np.where(region, _neighbour_min(ids, big), big)
        flat = np.append(new.ravel(), big)
        for _ in range(4):  # pointer jumping: follow each id to its own current id
            new = np.where(region, flat[new], big)
            flat = np.append(new.ravel(), big)
        if np.array_equal(new, ids):
            break
        ids = new
    out = np.zeros((h, w), np.int32)
    roots = np.unique(ids[region])
    out[region] = np.searchsorted(roots, ids[region]) + 1
    return out


def depth(region: np.ndarray) -> np.ndarray:
    """Chessboard distance of each region pixel to the nearest pixel outside it (the array's edge counts
    as outside), 0 outside the region."""
    cur = np.asarray(region, dtype=bool)
    dist = np.zeros(cur.shape, np.int32)
    while cur.any():
        dist += cur
        cur = _neighbour_min(cur, False)
    return dist


@dataclasses.dataclass(frozen=True)
class Anchor:
    """Where a region's name goes: ``(y, x)`` inside the region, its class and its area in pixels."""

    label: int
    y: int
    x: int
    area: int


def label_anchors(mask: np.ndarray, min_share: float = 0.01) -> List[Anchor]:
    """One anchor per connected region of each class (ignore and background excluded), largest first.

    The anchor is the region's pixel farthest from its boundary (nearest the region's centroid among
    ties). Every region covering at least ``min_share`` of the picture gets one, and each class's
    largest region always does. The search runs on a copy subsampled to at most 160 pixels a side,
    so a sliver thinner than the step may be skipped, never a whole class.
    """
    mask = np.asarray(mask)
    h, w = mask.shape
    step = max(1, math.ceil(max(h, w) / _WORK_SIDE))
    small = mask[step // 2::step, step // 2::step]
    found: List[Anchor] = []
    for label in (int(v) for v in np.unique(mask) if v not in (0, IGNORE)):
        where = small == label
        if not where.any():  # thinner than the step everywhere: fall back to any full-size pixel
            ys, xs = np.nonzero(mask == label)
            found.append(Anchor(label, int(ys[len(ys) // 2]), int(xs[len(xs) // 2]), len(ys)))
            continue
        ids = components(where)
        sizes = np.bincount(ids.ravel())[1:]
        for index in np.argsort(-sizes, kind="stable"):
            area = int(sizes[index]) * step * step
            if index != np.argmax(sizes) and area < min_share * h * w:
                continue
            region = ids == index + 1
            dist = depth(region)
            ys, xs = np.nonzero(dist == dist.max())
            cy, cx = np.nonzero(region)
            best = int(np.argmin((ys - cy.mean()) ** 2 + (xs - cx.mean()) ** 2))
            y = min(h - 1, int(ys[best]) * step + step // 2)
            x = min(w - 1, int(xs[best]) * step + step // 2)
            if mask[y, x] != label:  # subsampling moved us off the class: take its nearest full-size pixel
                fy, fx = np.nonzero(mask == label)
                k = int(np.argmin((fy - y) ** 2 + (fx - x) ** 2))
                y, x = int(fy[k]), int(fx[k])
            found.append(Anchor(label, y, x, area))
    return sorted(found, key=lambda a: -a.area)

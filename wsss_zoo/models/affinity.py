"""AffinityNet (PSA ``network/resnet38_aff.py``; SEAM/SBNet copies) on the shared ResNet-38, and its pair indices.

Keys: the 228 backbone keys plus ``f8_3``, ``f8_4``, ``f8_5``, ``f9`` (232). The pair affinity of two
stride-8 positions within the search radius is ``exp(-mean_c |f_i - f_j|)`` of the 448-channel ELU
features. ``variant="seam"`` reproduces SEAM/SBNet's radius shrink on small feature maps
(``(min(h, w) - 1) // 2`` when ``min(h, w) < 11``); ``"psa"`` keeps radius 5 always.
"""
from __future__ import annotations

import functools
from typing import List, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..convert import register_layout
from ._factory import register_model
from .resnet38 import HEAD_FROZEN, ResNet38, conv1x1, drop_bn_counters

DEFAULT_RADIUS = 5
TRAIN_FEATURE_SIZE = 56  # 448 crop / 8: the size upstream precomputes indices for


@functools.lru_cache(maxsize=64)
def search_offsets(radius: int) -> Tuple[Tuple[int, int], ...]:
    """Half-disk offsets (dy, dx) of ``pyutils.get_indices_of_pairs``: (0, 1..r-1), then rows 1..r-1."""
    offsets = [(0, dx) for dx in range(1, radius)]
    offsets += [(dy, dx) for dy in range(1, radius) for dx in range(-radius + 1, radius) if dx * dx + dy * dy < radius * radius]
    return tuple(offsets)


def _pair_windows(radius: int, size: Tuple[int, int]):
    """(from window, [to windows]) as (row0, col0, rows, cols) on the grid; empty when the grid is too small."""
    h, w = size
    rf = radius - 1
    rows, cols = h - rf, w - 2 * rf
    if radius < 2 or rows <= 0 or cols <= 0:
        return None, []
    return (0, rf, rows, cols), [(dy, rf + dx, rows, cols) for dy, dx in search_offsets(radius)]


@functools.lru_cache(maxsize=64)
def pair_indices(radius: int, size: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """``(ind_from, ind_to)`` of ``pyutils.get_indices_of_pairs(radius, size)`` (row-major positions).

    ``ind_from`` covers rows [0, H-r+1) x cols [r-1, W-r+1); ``ind_to`` concatenates, offset by
    offset, the same window shifted by each half-disk offset (length n_offsets * len(ind_from)).
    """
    grid = np.arange(size[0] * size[1], dtype=np.int64).reshape(size)
    src, dst_windows = _pair_windows(radius, size)
    if src is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    take = lambda r0, c0, nr, nc: grid[r0:r0 + nr, c0:c0 + nc].reshape(-1)  # noqa: E731
    return take(*src), np.concatenate([take(*win) for win in dst_windows])


def affinity_radius(size: Tuple[int, int], variant: str) -> int:
    """Search radius on a feature grid: 5, or SEAM's shrink for grids under 11 (not at the 56x56 train size)."""
    if variant == "seam" and tuple(size) != (TRAIN_FEATURE_SIZE, TRAIN_FEATURE_SIZE):
        min_edge = min(size)
        if min_edge < 2 * DEFAULT_RADIUS + 1:
            return (min_edge - 1) // 2
    return DEFAULT_RADIUS


def pair_affinities(feat: torch.Tensor, radius: int) -> torch.Tensor:
    """``exp(-mean_c |f[to] - f[from]|)`` for every pair, [N, n_offsets, n_from] in upstream order.

    Computed with shifted windows of the grid instead of gathered index lists (same pairs, same order).
    """
    n, c, h, w = feat.shape
    src, dst_windows = _pair_windows(radius, (h, w))
    if src is None:
        return feat.new_zeros(n, 0, 0)
    r0, c0, nr, nc = src
    f_from = feat[:, :, r0:r0 + nr, c0:c0 + nc]
    out: List[torch.Tensor] = []
    for dr, dc, _, _ in dst_windows:
        diff = (feat[:, :, dr:dr + nr, dc:dc + nc] - f_from).abs().mean(dim=1)
        out.append(torch.exp(-diff).reshape(n, -1))
    return torch.stack(out, dim=1)


class AffinityNet(ResNet38):
    """``resnet38_aff.Net``: ELU features f8_3 (conv4), f8_4 (conv5), f8_5 (conv6) -> f9 (448 channels)."""

    frozen_modules = HEAD_FROZEN
    from_scratch_layers = ("f8_3", "f8_4", "f8_5", "f9")

    def __init__(self, variant: str = "psa"):
        super().__init__(taps="psa")
        if variant not in ("psa", "seam"):
            raise ValueError(f"variant must be 'psa' or 'seam', got {variant!r}")
        self.variant = variant
        self.f8_3 = conv1x1(512, 64, "kaiming")
        self.f8_4 = conv1x1(1024, 128, "kaiming")
        self.f8_5 = conv1x1(4096, 256, "kaiming")
        self.f9 = conv1x1(448, 448, "xavier4")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The 448-channel affinity features [N, 448, ceil(H/8), ceil(W/8)]."""
        d = self.forward_as_dict(x, ("conv4", "conv5", "conv6"))
        f = torch.cat([F.elu(self.f8_3(d["conv4"])), F.elu(self.f8_4(d["conv5"])), F.elu(self.f8_5(d["conv6"]))], 1)
        return F.elu(self.f9(f))

    def radius_for(self, size: Tuple[int, int]) -> int:
        return affinity_radius(size, self.variant)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Training output: pair affinities [N, n_offsets, n_from] (upstream ``forward(x, to_dense=False)``)."""
        feat = self.embed(x)
        return pair_affinities(feat, self.radius_for(feat.shape[2:]))

    def affinity_graph(self, x: torch.Tensor):
        """For one image [1, 3, H, W]: ``(n, src, dst, values, grid)`` on the stride-8 grid (random walk).

        The dense matrix upstream builds with ``to_dense=True`` is ``A[src, dst] = A[dst, src] = values``
        with a unit diagonal (:func:`wsss_zoo.pipelines.random_walk.dense_affinity`).
        """
        return self.graph_of(self.embed(x))

    def graph_of(self, feat: torch.Tensor):
        """:meth:`affinity_graph` from the features [1, 448, h, w] of :meth:`embed`."""
        size = tuple(feat.shape[2:])
        radius = self.radius_for(size)
        values = pair_affinities(feat, radius)[0]
        ind_from, ind_to = pair_indices(radius, size)
        src = torch.from_numpy(ind_from).to(values.device).repeat(values.shape[0])
        dst = torch.from_numpy(ind_to).to(values.device)
        return size[0] * size[1], src, dst, values.reshape(-1), size


@register_model("resnet38_aff")
def resnet38_aff(variant: str = "psa") -> AffinityNet:
    return AffinityNet(variant)


# ----------------------------------------------------------------------------- checkpoint layout
register_layout("resnet38_aff", signature=("f8_5.weight", "f9.weight"),
                description="PSA/SEAM/SBNet resnet38_aff: 232 keys (backbone, f8_3, f8_4, f8_5, f9 448x448)"
                )(drop_bn_counters)

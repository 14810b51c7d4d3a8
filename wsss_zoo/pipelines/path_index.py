"""IRN's path index: search directions, the pixel paths between pixel pairs, and edge -> affinity.

Reproduces ``PathIndex``, ``edge_to_affinity`` and ``AffinityDisplacementLoss.to_affinity`` of
jiwoon-ahn/irn ``misc/indexing.py`` / ``net/resnet50_irn.py`` (identical in CDA and RIB):

* directions: the half disc ``(0, 1..r-1)`` then ``(dy, dx)`` for ``dy`` in ``1..r-1`` and ``dx`` in
  ``-(r-1)..r-1`` with ``dx^2 + dy^2 < r^2``;
* the path of a direction: every lattice point of the box spanned by ``(0, 0)`` and the direction whose
  squared distance to the line through both is < 1, sorted by decreasing ``|y| + |x|`` (stable), so
  the destination comes first and the source last;
* paths grouped by length (groups in increasing length, generation order inside a group);
* sources: rows ``[0, H - rf)`` x columns ``[rf, W - rf)`` of the row-major grid, ``rf = ceil(r) - 1``;
* affinity of a pair = 1 - the maximum edge value along its path (both ends included).

Used at inference by the random walk (radius 5 on the padded stride-4 grid) and in training by the
affinity loss (radius 10 on the 128 x 128 grid of a 512 crop). Pure numpy/torch, no model code.
"""
from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import numpy as np
import torch


def search_directions(radius: int) -> List[Tuple[int, int]]:
    """The half-disc offsets ``(dy, dx)`` within ``radius``, in upstream generation order."""
    r = int(radius)
    dirs = [(0, x) for x in range(1, r)]
    dirs += [(y, x) for y in range(1, r) for x in range(-r + 1, r) if x * x + y * y < r * r]
    return dirs


def direction_path(dy: int, dx: int) -> np.ndarray:
    """Lattice points ``[[y, x], ...]`` of the thick segment from ``(0, 0)`` to ``(dy, dx)``, destination first."""
    norm = dy * dy + dx * dx
    points = [(y, x)
              for y in range(min(0, dy), max(0, dy) + 1)
              for x in range(min(0, dx), max(0, dx) + 1)
              if (dy * x - dx * y) ** 2 < norm]  # == squared distance to the line < 1, in integers
    points.sort(key=lambda p: -abs(p[0]) - abs(p[1]))  # stable, like list.sort upstream
    return np.asarray(points, dtype=np.int64)


def search_paths(radius: int) -> Tuple[List[np.ndarray], np.ndarray]:
    """Paths grouped by length and the destinations in group order.

    Returns ``(groups, dst)``: ``groups[g]`` is an int64 array (n_paths, length, 2) of ``(y, x)``
    points, groups in increasing length; ``dst`` (n_dirs, 2) is each path's first point, group by group.
    """
    by_length = {}
    for dy, dx in search_directions(radius):
        path = direction_path(dy, dx)
        by_length.setdefault(len(path), []).append(path)
    groups = [np.stack(by_length[n]) for n in sorted(by_length)]
    dst = np.concatenate([g[:, 0] for g in groups], axis=0)
    return groups, dst


class PathIndex:
    """Flat pixel indices of every path from each source pixel of an ``H x W`` grid (IRN ``PathIndex``).

    Attributes: ``radius``, ``radius_floor``, ``size``, ``search_paths`` (groups of (y, x) paths),
    ``search_dst`` (n_dst, 2), ``path_indices`` (per group: int64 (n_paths, length, n_src)),
    ``src_indices`` (n_src,), ``dst_indices`` (n_dst, n_src).
    """

    def __init__(self, radius: int, size: Sequence[int]):
        self.radius = int(radius)
        self.radius_floor = int(math.ceil(radius) - 1)
        self.size = (int(size[0]), int(size[1]))
        self.search_paths, self.search_dst = search_paths(self.radius)
        self.path_indices, self.src_indices, self.dst_indices = self._indices()

    @property
    def crop_size(self) -> Tuple[int, int]:
        """(rows, columns) of the source block: ``(H - rf, W - 2 rf)``."""
        return self.size[0] - self.radius_floor, self.size[1] - 2 * self.radius_floor

    def _indices(self):
        height, width = self.size
        rf = self.radius_floor
        ch, cw = self.crop_size
        if ch <= 0 or cw <= 0:
            raise ValueError(f"grid {self.size} is too small for radius {self.radius}")
        src = (np.arange(ch, dtype=np.int64)[:, None] * width + rf + np.arange(cw, dtype=np.int64)[None, :]).reshape(-1)
        path_indices = []
        for group in self.search_paths:
            offsets = group[..., 0] * width + group[..., 1]  # (n_paths, length)
            path_indices.append(offsets[..., None] + src[None, None, :])
        dst = np.concatenate([p[:, 0] for p in path_indices], axis=0)
        return path_indices, src, dst


def edge_to_affinity(edge: torch.Tensor, path_indices: Sequence) -> torch.Tensor:
    """Pair affinities ``1 - max(edge along the path)``: edge (B, ...) flattened -> (B, n_dst, n_src).

    ``path_indices`` are the per-group index arrays of a :class:`PathIndex` (numpy or torch); the
    input is not modified (upstream replaces the list items with CUDA tensors).
    """
    edge = edge.reshape(edge.shape[0], -1)
    out = []
    for ind in path_indices:
        ind = torch.as_tensor(ind, device=edge.device)
        values = edge.index_select(1, ind.reshape(-1)).view(edge.shape[0], *ind.shape)
        out.append(1 - values.amax(dim=2))
    return torch.cat(out, dim=1)

"""PathIndex tables against the fact sheets (foundations.md 6.4, cda.md 6.2) and brute-force affinities."""
import numpy as np
import torch

from tests.fixtures.irn_layouts import N_SRC_R10, PATH_GROUPS_R10
from wsss_zoo.pipelines.path_index import PathIndex, edge_to_affinity

R5_DST = [(0, 1), (1, 0), (0, 2), (2, 0), (0, 3), (1, -1), (1, 1), (3, 0), (0, 4), (4, 0), (1, -2), (1, 2), (2, -1),
          (2, 1), (2, -2), (2, 2), (1, -3), (1, 3), (2, -3), (2, 3), (3, -2), (3, -1), (3, 1), (3, 2), (1, -4), (1, 4),
          (3, -3), (3, 3), (4, -1), (4, 1), (2, -4), (2, 4), (4, -2), (4, 2)]


def test_radius5_destinations_and_groups():
    index = PathIndex(5, (30, 40))
    assert [tuple(d) for d in index.search_dst] == R5_DST
    assert [g.shape[1] for g in index.search_paths] == [2, 3, 4, 5, 6, 7, 8, 10, 11]
    assert [g.shape[0] for g in index.search_paths] == [2, 2, 4, 2, 4, 2, 8, 6, 4]
    assert index.radius_floor == 4
    for group in index.search_paths:
        for path in group:
            assert tuple(path[-1]) == (0, 0)
            assert np.all(np.abs(path).sum(1)[:-1] >= np.abs(path).sum(1)[1:])  # decreasing |y| + |x|


def test_radius10_training_buffers():
    index = PathIndex(10, (128, 128))
    assert [p.shape for p in index.path_indices] == [(n, length, N_SRC_R10) for n, length in PATH_GROUPS_R10]
    assert index.dst_indices.shape == (152, N_SRC_R10) and index.src_indices.shape == (N_SRC_R10,)
    # sources: rows [0, 119) x cols [9, 119)
    assert index.src_indices[0] == 9 and index.src_indices[-1] == 118 * 128 + 118


def test_edge_to_affinity_brute_force():
    rng = np.random.default_rng(0)
    h, w = 17, 23
    edge = rng.random((h, w)).astype(np.float32)
    index = PathIndex(5, (h, w))
    aff = edge_to_affinity(torch.from_numpy(edge)[None], index.path_indices)[0].numpy()
    src = index.src_indices
    paths = [p for g in index.search_paths for p in g]
    for k in rng.integers(0, aff.shape[0], 12):
        for s in rng.integers(0, len(src), 12):
            y, x = divmod(int(src[s]), w)
            values = [edge[y + dy, x + dx] for dy, dx in paths[k]]
            assert np.isclose(aff[k, s], 1 - max(values))
            dy, dx = index.search_dst[k]
            assert index.dst_indices[k, s] == (y + dy) * w + x + dx

"""IRN random walk: crop-to-region pairs vs the padded dense matrix, sparse vs dense, invariants."""
import numpy as np
import torch
import torch.nn.functional as F

from wsss_zoo.pipelines.irn import edge_pairs, propagate_to_edge, random_walk_labels
from wsss_zoo.pipelines.path_index import PathIndex, edge_to_affinity
from wsss_zoo.pipelines.random_walk import dense_affinity


def _upstream_style_dense(edge, radius=5):
    """The dense matrix as upstream builds it: on the padded grid, then cropped (foundations.md 6.5)."""
    h, w = edge.shape
    padded = F.pad(edge[None, None], (radius, radius, 0, radius), value=1.0)[0, 0]
    ph, pw = padded.shape
    index = PathIndex(radius, (ph, pw))
    aff = edge_to_affinity(padded[None], index.path_indices)[0]
    src = torch.from_numpy(np.broadcast_to(index.src_indices, index.dst_indices.shape).copy())
    A = dense_affinity(ph * pw, src, torch.from_numpy(index.dst_indices), aff)
    A = A.view(ph, pw, ph, pw)[:-radius, radius:-radius, :-radius, radius:-radius]
    return A.reshape(h * w, h * w)


def test_pairs_equal_cropped_padded_matrix():
    torch.manual_seed(0)
    edge = torch.rand(9, 13)
    src, dst, aff = edge_pairs(edge)
    ours = dense_affinity(9 * 13, src, dst, aff)
    assert torch.equal(ours, _upstream_style_dense(edge))


def test_sparse_walk_matches_dense():
    torch.manual_seed(1)
    edge = torch.rand(1, 11, 14) ** 3
    cams = torch.rand(2, 11, 14)
    sparse = propagate_to_edge(cams, edge, beta=10, exp_times=8)
    dense = propagate_to_edge(cams, edge, beta=10, exp_times=8, mode="dense")
    assert torch.allclose(sparse, dense, rtol=1e-4, atol=1e-6 * float(dense.abs().max()))


def test_constant_map_is_invariant():
    """T = A D^-1 with A symmetric: 1^T T = 1^T, so a constant map survives the walk (edge 0)."""
    edge = torch.zeros(1, 8, 10)
    rw = propagate_to_edge(torch.ones(1, 8, 10), edge)
    assert torch.allclose(rw, torch.ones_like(rw), atol=1e-5)


def test_edge_wall_blocks_propagation():
    edge = torch.zeros(1, 10, 12)
    edge[..., 6] = 1.0  # a full boundary column
    cams = torch.zeros(1, 10, 12)
    cams[..., :3] = 1.0
    rw = propagate_to_edge(cams, edge)
    assert rw[..., 7:].abs().max() == 0 and rw[..., 6].abs().max() == 0
    assert rw[..., :6].min() > 0


def test_label_map_global_max_and_threshold():
    rw = torch.zeros(2, 3, 4)
    rw[0, 0, 0] = 4.0  # global max
    rw[1, 2, 3] = 1.2  # 0.3 of the global max
    labels = random_walk_labels(rw, (12, 16), [5, 7], bg_thres=0.25)
    assert labels.dtype == np.uint8
    assert labels[0, 0] == 5 and labels[11, 15] == 7 and labels[5, 7] == 0  # x4 bilinear, align_corners=False
    assert labels[8, 13] == 0  # 1.2 * 0.625 * 0.875 / 4 < 0.25
    assert random_walk_labels(rw, (9, 14), [5, 7], bg_thres=0.25).shape == (9, 14)  # top-left crop

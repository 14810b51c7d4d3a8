"""AffinityNet pair geometry (foundations.md 4.2, 4.6) and pair affinities."""
import numpy as np
import pytest
import torch

from wsss_zoo.models.affinity import affinity_radius, pair_affinities, pair_indices, search_offsets

SHEET_OFFSETS_R5 = [(0, 1), (0, 2), (0, 3), (0, 4), (1, -4), (1, -3), (1, -2), (1, -1), (1, 0), (1, 1), (1, 2),
                    (1, 3), (1, 4), (2, -4), (2, -3), (2, -2), (2, -1), (2, 0), (2, 1), (2, 2), (2, 3), (2, 4),
                    (3, -3), (3, -2), (3, -1), (3, 0), (3, 1), (3, 2), (3, 3), (4, -2), (4, -1), (4, 0), (4, 1),
                    (4, 2)]


def test_radius5_offsets_are_the_sheet_list():
    assert list(search_offsets(5)) == SHEET_OFFSETS_R5


def _naive_pairs(radius, h, w):
    """Enumerate pairs as the sheet words it: from rows [0, h-r+1) x cols [r-1, w-r+1), offset-major."""
    rf = radius - 1
    froms = [y * w + x for y in range(0, h - rf) for x in range(rf, w - rf)]
    tos = [(y + dy) * w + (x + dx) for dy, dx in search_offsets(radius)
           for y in range(0, h - rf) for x in range(rf, w - rf)]
    return np.array(froms), np.array(tos)


@pytest.mark.parametrize("size", [(56, 56), (8, 10), (13, 9), (47, 63)])
def test_pair_indices_follow_the_sheet(size):
    ind_from, ind_to = pair_indices(5, size)
    want_from, want_to = _naive_pairs(5, *size)
    assert np.array_equal(ind_from, want_from) and np.array_equal(ind_to, want_to)
    if size == (56, 56):
        assert len(ind_from) == 2496 and len(ind_to) == 34 * 2496


def test_pairs_are_distinct_and_never_mirrored():
    ind_from, ind_to = pair_indices(5, (20, 30))
    src = np.tile(ind_from, 34)
    pairs = set(zip(src.tolist(), ind_to.tolist()))
    assert len(pairs) == len(src)
    assert not any((b, a) in pairs for a, b in pairs)


def test_too_small_grids_have_no_pairs():
    assert all(len(a) == 0 for a in pair_indices(5, (3, 20)))
    assert all(len(a) == 0 for a in pair_indices(5, (20, 7)))


@pytest.mark.parametrize("size,variant,radius", [
    ((56, 56), "seam", 5), ((12, 40), "seam", 5), ((10, 40), "seam", 4), ((7, 9), "seam", 3),
    ((4, 4), "seam", 1), ((10, 40), "psa", 5), ((7, 9), "psa", 5),
])
def test_radius_rule(size, variant, radius):
    assert affinity_radius(size, variant) == radius


def test_pair_affinities_equal_gathered_mean_abs_difference():
    torch.manual_seed(0)
    feat = torch.randn(2, 448, 9, 12)
    aff = pair_affinities(feat, 5)
    ind_from, ind_to = pair_indices(5, (9, 12))
    f = feat.flatten(2)
    ff = f[:, :, torch.from_numpy(ind_from)].unsqueeze(2)
    ft = f[:, :, torch.from_numpy(ind_to)].view(2, 448, 34, -1)
    want = torch.exp(-(ft - ff).abs().mean(dim=1))
    assert aff.shape == (2, 34, len(ind_from))
    assert torch.allclose(aff, want, atol=1e-6)

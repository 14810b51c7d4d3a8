"""SEAM's pixel correlation module (PCM) and its seed, against the formulas of foundations.md 5.2."""
import pytest
import torch

from wsss_zoo.models.resnet38 import pcm_seed, pixel_correlation


def test_seed_keeps_only_the_foreground_argmax_and_sets_background():
    torch.manual_seed(0)
    cam = torch.randn(2, 21, 5, 7) * 3
    seed = pcm_seed(cam)
    c = cam.clamp_min(0)
    norm = (c - 1e-5).clamp_min(0) / (c.flatten(2).max(-1).values[..., None, None] + 1e-5)
    fg_max = norm[:, 1:].max(dim=1).values
    assert torch.allclose(seed[:, 0], 1 - fg_max)
    fg = seed[:, 1:]
    survivors = fg > 0
    assert torch.equal(fg[survivors], fg_max.unsqueeze(1).expand_as(fg)[survivors])  # only the per-pixel max
    assert torch.equal(survivors, (norm[:, 1:] == fg_max.unsqueeze(1)) & (norm[:, 1:] > 0))
    assert torch.allclose(fg.max(dim=1).values, fg_max)
    assert seed.min() >= 0 and seed.max() <= 1
    assert not seed.requires_grad


@pytest.mark.parametrize("chunk", [1 << 24, 7 * 35, 1])
def test_pcm_equals_column_normalised_cosine_affinity(chunk):
    torch.manual_seed(1)
    seed = torch.rand(2, 21, 5, 7)
    feat = torch.randn(2, 192, 5, 7)
    got = pixel_correlation(seed, feat, chunk_elems=chunk)
    g = feat.flatten(2)
    g = g / (g.norm(dim=1, keepdim=True) + 1e-5)
    aff = (g.transpose(1, 2) @ g).clamp_min(0)
    aff = aff / (aff.sum(dim=1, keepdim=True) + 1e-5)
    want = (seed.flatten(2) @ aff).view(2, 21, 5, 7)
    assert torch.allclose(got, want, atol=1e-6)


def test_pcm_of_identical_features_averages_the_seed():
    seed = torch.rand(1, 3, 4, 4)
    feat = torch.ones(1, 8, 4, 4)
    out = pixel_correlation(seed, feat)
    mean = seed.flatten(2).mean(-1)[..., None, None].expand_as(seed)
    assert torch.allclose(out, mean, atol=1e-4)

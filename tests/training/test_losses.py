"""Training losses checked against hand computations of the upstream formulas (the method sheets)."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from training.losses.affinity import affinity_loss, hard_affinity_label, pair_labels
from training.losses.deeplab import msc_cross_entropy, resize_labels
from training.losses.eps import eps_saliency_loss
from training.losses.irn import AffinityDisplacementLoss, irn_pair_labels, irn_total_loss
from training.losses.sbnet import boundary_loss, smoothness_loss
from training.losses.seam import adaptive_min_pooling_loss, max_norm, max_onehot, seam_losses
from wsss_zoo.pipelines.path_index import PathIndex


# ------------------------------------------------------------------------------------------ EPS
def test_eps_loss_selects_maps_by_saliency_overlap():
    """eps.md 6.1 on a 1x2 grid: class 0 is confident on the salient pixel (overlap 1 > tau -> foreground),
    class 1 is labelled but confident off-saliency (overlap 0 -> background set), class 2 absent."""
    logits = torch.log(torch.tensor([
        [0.7, 0.1],   # class 0
        [0.1, 0.6],   # class 1
        [0.1, 0.2],   # class 2 (absent)
        [0.1, 0.1],   # background (last)
    ])).view(1, 4, 1, 2)
    sal = torch.tensor([[[[0.9, 0.2]]]])
    labels = torch.tensor([[1.0, 1.0, 0.0]])
    lam = 0.5
    p = F.softmax(logits, 1)[0, :, 0]
    fg = p[0]                               # F = {0}
    bg = p[1] + p[3]                        # B = {1, background}
    est = lam * fg + (1 - lam) * (1 - bg)
    expected = ((est - sal[0, 0, 0]) ** 2).mean()
    got = eps_saliency_loss(logits, sal, labels, tau=0.4, lam=lam)
    assert torch.allclose(got, expected, atol=1e-7)


def test_eps_saliency_is_resized_with_legacy_nearest():
    """448 -> 56 picks every 8th pixel (floor(dst * 8)), as F.interpolate(mode='nearest') does upstream."""
    sal = torch.zeros(1, 1, 16, 16)
    sal[..., ::8, ::8] = 1.0  # only the picked pixels are salient
    cam = torch.zeros(1, 3, 2, 2)
    cam[:, 2] = 10.0  # background dominates: estimate = (1 - lam) * (1 - 1) = 0 -> loss = mean(sal') = 1
    loss = eps_saliency_loss(cam, sal, torch.zeros(1, 2), 0.4, 0.5)
    assert loss.item() == pytest.approx(1.0, abs=1e-4)


# ------------------------------------------------------------------------------------------ SEAM
def test_max_norm_and_helpers():
    p = torch.tensor([[[[-1.0, 1.0], [3.0, 5.0]]]])
    # relu -> [0, 1, 3, 5]; (v - 0 - 1e-5) / (5 - 0 + 1e-5), relu
    expected = torch.clamp((torch.tensor([0.0, 1, 3, 5]) - 1e-5) / (5 + 1e-5), min=0).view(1, 1, 2, 2)
    assert torch.allclose(max_norm(p), expected)
    x = torch.tensor([[[[0.3]], [[0.2]], [[0.5]], [[0.5]]]]).permute(0, 1, 2, 3)  # bg, fg1, fg2, fg3
    out = max_onehot(x)
    assert out.flatten().tolist() == pytest.approx([0.3, 0.0, 0.5, 0.5])  # ties kept, background untouched
    y = torch.arange(16.0).view(1, 1, 4, 4) - 2  # per-pixel max over 1 channel; 4 smallest: -2,-1,0,1
    assert adaptive_min_pooling_loss(y).item() == pytest.approx((0 + 0 + 0 + 1) / 4)


def test_seam_losses_are_finite_and_zero_ecr_for_perfect_agreement():
    torch.manual_seed(0)
    label = torch.ones(2, 21, 1, 1)
    cam1, rv1 = torch.randn(2, 21, 20, 20), torch.randn(2, 21, 20, 20)
    cam2, rv2 = torch.randn(2, 21, 6, 6), torch.randn(2, 21, 6, 6)
    out = seam_losses(cam1, rv1, cam2, rv2, label)
    assert all(torch.isfinite(v) for v in out.values())
    assert out["total"].item() == pytest.approx((out["cls"] + out["er"] + out["ecr"]).item(), rel=1e-6)


# ------------------------------------------------------------------------------------------ SBNet
def test_smoothness_of_a_zero_map_is_the_charbonnier_floor():
    """P = 0: every derivative is 0, so rho = sqrt(0 + 1e-6) = 1e-3: 10 * mean(y * 2e-3) + mean(y * 1e-3)."""
    y = torch.zeros(1, 21, 1, 1)
    y[:, [0, 3]] = 1
    loss = smoothness_loss(torch.zeros(1, 21, 8, 8), torch.rand(1, 21, 8, 8), y)
    assert loss.item() == pytest.approx(10 * 2e-3 * 2 / 21 + 1e-3 * 2 / 21, rel=1e-5)


def test_boundary_loss_masks_targets_with_the_label():
    e = torch.randn(1, 21, 4, 4)
    b = torch.rand(1, 21, 4, 4)
    y = torch.zeros(1, 21, 1, 1)
    y[:, 0] = 1
    expected = F.binary_cross_entropy(torch.sigmoid(e), b * y)
    assert torch.allclose(boundary_loss(e, b, y), expected)


# ------------------------------------------------------------------------------------------ AffinityNet
def _brute_pairs(label, radius):
    """PSA ExtractAffinityLabelInRadius written out with loops."""
    h, w = label.shape
    rf = radius - 1
    offsets = [(0, x) for x in range(1, radius)] + [(y, x) for y in range(1, radius) for x in range(-rf, radius)
                                                   if x * x + y * y < radius * radius]
    bg, fg, neg = [], [], []
    for dy, dx in offsets:
        rows = []
        for r, c in itertools.product(range(h - rf), range(rf, w - rf)):
            a, b = label[r, c], label[r + dy, c + dx]
            valid = a < 255 and b < 255
            rows.append((a == b and a == 0, a == b and a != 0 and valid, a != b and valid))
        bg.append([t[0] for t in rows])
        fg.append([t[1] for t in rows])
        neg.append([t[2] for t in rows])
    return np.array(bg, np.float32), np.array(fg, np.float32), np.array(neg, np.float32)


def test_affinity_pair_labels_match_the_upstream_definition():
    rng = np.random.default_rng(0)
    label = rng.choice([0, 3, 7, 255], size=(9, 11)).astype(np.uint8)
    got = pair_labels(torch.from_numpy(label)[None], 4)
    for g, e in zip(got, _brute_pairs(label, 4)):
        assert np.array_equal(g[0].numpy(), e)


def test_hard_affinity_label_rules():
    la = np.zeros((1, 4, 2), np.float32)
    ha = np.zeros((1, 4, 2), np.float32)
    la[0, 0] = [0.9, 0.1]; ha[0, 0] = [0.9, 0.1]   # bg in both -> 0
    la[0, 1] = [0.1, 0.9]; ha[0, 1] = [0.9, 0.1]   # fg in la, bg in ha -> 0 (ha wins)
    la[0, 2] = [0.1, 0.9]; ha[0, 2] = [0.2, 0.8]   # fg in both -> 1
    # pixel 3: no score (padding) -> 255
    assert hard_affinity_label(la, ha).tolist() == [[0, 0, 1, 255]]


def test_affinity_loss_weights():
    aff = torch.tensor([[0.5, 0.25]])
    bg = torch.tensor([[1.0, 0.0]]); fg = torch.tensor([[0.0, 1.0]]); neg = torch.tensor([[1.0, 1.0]])
    out = affinity_loss(aff, bg, fg, neg)
    e_bg = -np.log(0.5 + 1e-5) / (1 + 1e-5)
    e_fg = -np.log(0.25 + 1e-5) / (1 + 1e-5)
    e_neg = (-np.log(1 + 1e-5 - 0.5) - np.log(1 + 1e-5 - 0.25)) / (2 + 1e-5)
    assert out["total"].item() == pytest.approx(e_bg / 4 + e_fg / 4 + e_neg / 2, rel=1e-5)


# ------------------------------------------------------------------------------------------ IRN
def test_irn_pair_labels_and_displacements_match_the_definition():
    pi = PathIndex(3, (7, 9))
    rng = np.random.default_rng(1)
    label = rng.choice([0, 2, 5, 255], size=(7, 9)).astype(np.uint8)
    bg, fg, neg = irn_pair_labels(torch.from_numpy(label)[None], pi)
    flat = label.reshape(-1)
    for d, dst_row in enumerate(pi.dst_indices):
        for s, (src, dst) in enumerate(zip(pi.src_indices, dst_row)):
            a, b = int(flat[src]), int(flat[dst])
            valid = a < 21 and b < 21
            assert bg[0, d, s] == float(valid and a == b == 0)
            assert fg[0, d, s] == float(valid and a == b and a > 0)
            assert neg[0, d, s] == float(valid and a != b)
    loss = AffinityDisplacementLoss(pi)
    disp = torch.randn(1, 2, 7, 9)
    pair = loss.pair_displacement(disp)
    d, s = 3, 5
    dy, dx = pi.search_dst[d]
    src = int(pi.src_indices[s])
    r, c = divmod(src, 9)
    assert torch.allclose(pair[0, :, d, s], disp[0, :, r, c] - disp[0, :, r + dy, c + dx])
    edge = torch.randn(1, 1, 7, 9)
    terms = loss(edge, disp)
    out = irn_total_loss(terms, bg, fg, neg)
    assert torch.isfinite(out["total"])


# ------------------------------------------------------------------------------------------ DeepLab
def test_label_resize_matches_pil_nearest():
    rng = np.random.default_rng(2)
    lab = rng.integers(0, 21, size=(41, 41)).astype(np.uint8)
    for size in ((21, 21), (31, 31)):
        pil = np.asarray(Image.fromarray(lab).resize(size[::-1], Image.NEAREST))
        ours = resize_labels(torch.from_numpy(lab)[None], size)[0].numpy()
        assert np.array_equal(ours, pil)


def test_drs_extra_term_uses_the_product_not_a_mask():
    """drs.md 9.16: an absent class gets logit 0 after the product and wins when present logits are negative."""
    logits = torch.full((1, 3, 1, 1), -1.0)
    logits[0, 2] = 5.0  # class 2 absent from the image
    cls = torch.tensor([[1.0, 1.0, 0.0]])
    labels = torch.zeros(1, 1, 1, dtype=torch.long)
    with_extra = msc_cross_entropy([logits], labels, cls)
    plain = msc_cross_entropy([logits], labels)
    # the online target is argmax([-1, -1, 0]) = 2, the absent class
    assert (with_extra - plain).item() == pytest.approx(F.cross_entropy(logits.view(1, 3), torch.tensor([2])).item(),
                                                         rel=1e-4)

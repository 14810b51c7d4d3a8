"""DRS VGG-16 networks: DRS formula, trunk geometry, parameter counts and groups (drs.md section 4)."""
import numpy as np
import pytest
import torch

from wsss_zoo.models.vgg_drs import FEATURES_INDEX, FixedDRS, LearnableDRS, VGG16DRS, VGG16DRSRefine, normalize_cam


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def test_learnable_drs_matches_the_formula_on_a_small_tensor():
    torch.manual_seed(0)
    drs = LearnableDRS(3)
    weight = np.array([[0.5, -1.0, 0.0], [2.0, 0.1, -0.3], [0.0, 0.0, 1.0]], dtype=np.float32)
    drs.fc[0].weight.data = torch.from_numpy(weight)
    x = np.random.RandomState(1).randn(2, 3, 4, 5).astype(np.float32)
    out = drs(torch.from_numpy(x)).detach().numpy()

    relu = np.maximum(x, 0)
    peak = relu.max(axis=(2, 3), keepdims=True)                  # max extractor
    control = _sigmoid(relu.mean(axis=(2, 3)) @ weight.T)         # suppression controller (Linear, no bias)
    expected = np.minimum(relu, peak * control[:, :, None, None])  # suppressor
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_fixed_drs_clips_at_delta_times_the_channel_max():
    x = torch.tensor([[[[-1.0, 2.0], [4.0, 1.0]]]])
    out = FixedDRS(0.6)(x)
    assert torch.allclose(out, torch.tensor([[[[0.0, 2.0], [2.4, 1.0]]]]))


def test_trunk_indices_follow_the_d1_config():
    assert FEATURES_INDEX == {"layer1_conv1": 0, "layer1_conv2": 2, "layer2_conv1": 5, "layer2_conv2": 7,
                              "layer3_conv1": 10, "layer3_conv2": 12, "layer3_conv3": 14, "layer4_conv1": 17,
                              "layer4_conv2": 19, "layer4_conv3": 21, "layer5_conv1": 24, "layer5_conv2": 26,
                              "layer5_conv3": 28}


def test_parameter_counts_and_unique_tensors_match_the_sheet():
    cls, ref = VGG16DRS(), VGG16DRSRefine()
    assert len(cls.state_dict()) == 50 and sum(p.numel() for p in cls.parameters()) == 24_401_236
    assert len(ref.state_dict()) == 34 and sum(p.numel() for p in ref.parameters()) == 21_804_372
    assert len(VGG16DRS(delta=0.6).state_dict()) == 34  # the fixed DRS has no parameters


def test_conv5_is_dilated_pool4_keeps_resolution_and_output_stride_is_8():
    m = VGG16DRS()
    assert m.layer5_conv1.dilation == (2, 2) and m.layer5_conv1.padding == (2, 2)
    assert m.layer4_maxpool.stride == 1 and m.layer4_maxpool.kernel_size == 3
    with torch.no_grad():
        for size, out in ((64, 8), (96, 12)):  # 256 / 320 / 384 give 32 / 40 / 48 the same way
            assert m.class_map(torch.zeros(1, 3, size, size)).shape == (1, 20, out, out)


def test_forward_keeps_the_upstream_signature():
    m = VGG16DRS().eval()
    x = torch.randn(1, 3, 64, 64)
    label = torch.zeros(1, 20)
    label[0, [2, 14]] = 1
    with torch.no_grad():
        logits = m(x)
        logits2, cam = m(x, label, size=(40, 30))
        score = m.class_map(x)
    assert logits.shape == (1, 20) and torch.allclose(logits, score.mean(dim=(2, 3)), atol=1e-5)
    assert torch.equal(logits, logits2) and cam.shape == (1, 20, 40, 30)
    assert cam[0, [0, 1, 3]].abs().sum() == 0  # absent classes are zeroed
    assert cam.min() >= 0 and cam.max() < 1


def test_normalize_cam_uses_align_corners_true_and_max_normalisation():
    score = torch.tensor([[[[0.0, 2.0], [-1.0, 4.0]]]])
    cam = normalize_cam(score, (3, 3))
    # align_corners=True keeps the corners and averages the midpoints of the ReLU'd map
    expected = torch.tensor([[0.0, 1.0, 2.0], [0.0, 1.5, 3.0], [0.0, 2.0, 4.0]]) / (4.0 + 1e-5)
    assert torch.allclose(cam[0, 0], expected, atol=1e-6)


def test_refine_output_is_raw_and_label_masked():
    m = VGG16DRSRefine().eval()
    with torch.no_grad():
        m.extra_conv4.bias.fill_(-3.0)
        x = torch.randn(1, 3, 64, 64)
        out = m(x, size=(20, 24))
        masked = m(x, torch.eye(20)[[5]], size=(20, 24))
    assert out.shape == (1, 20, 20, 24) and out.max() < 0  # no ReLU / sigmoid / normalisation
    assert torch.equal(masked[0, 5], out[0, 5]) and masked[0, :5].abs().sum() == 0


def test_parameter_groups_put_drs_controllers_with_the_head():
    groups = VGG16DRS().get_parameter_groups()
    assert [len(g) for g in groups] == [13, 13, 20, 4]
    shapes = sorted(tuple(p.shape) for p in groups[2])
    assert shapes.count((512, 512)) == 9 and (20, 512, 1, 1) in shapes


def test_train_mode_changes_nothing_and_eval_returns_the_model():
    m = VGG16DRS()
    assert m.eval() is m and m.train() is m
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        a = m.train()(x)
        b = m.eval()(x)
    assert torch.equal(a, b)


@pytest.mark.parametrize("delta", [0.0, 0.55])
def test_head_init_follows_upstream(delta):
    torch.manual_seed(0)
    m = VGG16DRS(delta=delta)
    assert m.extra_conv4.weight.std().item() == pytest.approx((2 / 20) ** 0.5, rel=0.05)
    assert m.extra_conv1.bias.abs().sum() == 0
    if delta == 0:
        assert m.layer3_relu2.fc[0].weight.std().item() == pytest.approx(0.01, rel=0.05)

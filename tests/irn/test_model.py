"""IRN ResNet-50 networks: geometry, frozen BN, training semantics, parameter groups (fact-sheet numbers)."""
import torch
import torch.nn.functional as F

from wsss_zoo.models.resnet50_irn import FixedBatchNorm, ResNet50Cam, ResNet50IrnEdge


def _n(params):
    return sum(p.numel() for p in params)


def test_parameter_counts_from_rib_sheet():
    cam = ResNet50Cam(20)
    assert _n(cam.resnet50.parameters()) == 23_508_032
    assert _n(cam.parameters()) == 23_548_992
    assert _n(ResNet50Cam(80).parameters()) == 23_671_872
    irn = ResNet50IrnEdge()
    edge, dp = irn.trainable_parameters()
    assert (_n(edge), _n(dp), _n(irn.parameters())) == (125_409, 1_269_120, 24_902_561)


def test_layer4_stride_one_without_dilation():
    cam = ResNet50Cam(20).eval()
    for block in cam.resnet50.layer4:
        assert block.conv2.stride == (1, 1) and block.conv2.dilation == (1, 1)
    assert cam.resnet50.layer3[0].conv2.stride == (2, 2)
    with torch.no_grad():
        assert cam.cam_logits(torch.zeros(1, 3, 65, 100)).shape == (1, 20, 5, 7)  # ceil(H/16)


def test_fixed_batchnorm_uses_running_stats_in_train_mode():
    bn = FixedBatchNorm(4)
    with torch.no_grad():
        bn.running_mean.fill_(2.0)
        bn.running_var.fill_(4.0)
    bn.train()
    x = torch.randn(3, 4, 5, 5) * 3 + 1
    y = bn(x)
    assert torch.allclose(y, (x - 2.0) / (4.0 + bn.eps) ** 0.5, atol=1e-6)
    assert torch.all(bn.running_mean == 2.0)


def test_cam_training_semantics():
    cam = ResNet50Cam(20)
    assert cam.train() is cam and cam.eval() is cam
    assert not cam.resnet50.conv1.weight.requires_grad and not cam.resnet50.bn1.bias.requires_grad
    backbone, head = cam.trainable_parameters()
    assert len(backbone) == 159 and head == [cam.classifier.weight]
    x = torch.randn(2, 3, 64, 64)
    logits = cam(x)
    assert logits.shape == (2, 20)
    # GAP of the bias-free logit map equals the training logit (rib.md 4.3)
    assert torch.allclose(cam.cam_logits(x).mean((2, 3)), logits, atol=1e-5)
    logits.sum().backward()
    assert cam.resnet50.layer2[0].conv1.weight.grad is None  # detached after stage 2
    assert cam.resnet50.layer1[0].conv1.weight.grad is None
    assert cam.resnet50.layer3[0].bn1.weight.grad is not None and cam.classifier.weight.grad is not None


def test_edge_network_outputs_and_mean_shift():
    irn = ResNet50IrnEdge()
    with torch.no_grad():
        irn.mean_shift.running_mean.copy_(torch.tensor([0.5, -1.0]))
    x = torch.randn(1, 3, 96, 64)
    assert irn.train() is irn and not irn.resnet50.training and irn.fc_dp7.training
    with torch.no_grad():
        edge_t, dp_t = irn(x)
        irn.eval()
        edge_e, dp_e = irn(x)
    assert edge_t.shape == (1, 1, 24, 16) and dp_t.shape == (1, 2, 24, 16)
    assert torch.allclose(edge_t, edge_e)
    assert torch.allclose(dp_t - torch.tensor([0.5, -1.0]).view(1, 2, 1, 1), dp_e, atol=1e-6)


def test_edge_displacement_pads_crops_and_averages_logits():
    irn = ResNet50IrnEdge().eval()
    x = torch.randn(3, 50, 70)
    pair = torch.stack([x, x.flip(-1)])
    with torch.no_grad():
        edge, dp = irn.edge_displacement(pair, crop_size=96)
        padded = F.pad(pair, [0, 96 - 70, 0, 96 - 50])  # zero pad right/bottom in normalised space
        logits, disp = irn(padded)
    assert edge.shape == (1, 13, 18) and dp.shape == (2, 13, 18)  # ceil(H/4), ceil(W/4)
    expected = torch.sigmoid((logits[0, :, :13, :18] + logits[1, :, :13, :18].flip(-1)) / 2)
    assert torch.allclose(edge, expected, atol=1e-5)
    assert torch.allclose(dp, disp[0, :, :13, :18], atol=1e-5)

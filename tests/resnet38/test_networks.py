"""ResNet-38 networks against the fact sheets: key tables, parameter counts, taps, training behaviour."""
import pytest
import torch

from fixtures.resnet38_layouts import TABLES, backbone_table
from wsss_zoo.models.affinity import AffinityNet
from wsss_zoo.models.resnet38 import ResNet38, ResNet38Cls, ResNet38Eps, ResNet38Seam, ResNet38SeamBD
from wsss_zoo.models import ARCHITECTURES

# (builder, kwargs, expected table, learnable parameters from the sheets: eps.md 4.6, sbnet.md 4.6)
CASES = [
    ("resnet38d", {}, backbone_table(), 105_070_912),
    ("resnet38_cls", {"num_classes": 20}, TABLES["resnet38_cls"](20), 105_152_832),
    ("resnet38_cls", {"num_classes": 80}, TABLES["resnet38_cls"](80), 105_398_592),
    ("resnet38_eps", {"num_classes": 21}, TABLES["resnet38_eps"](21), 105_156_928),
    ("resnet38_eps", {"num_classes": 81}, TABLES["resnet38_eps"](81), 105_402_688),
    ("resnet38_seam", {"num_classes": 21}, TABLES["resnet38_seam"](), 105_358_208),
    ("resnet38_seam_bd", {"num_classes": 21}, TABLES["resnet38_seam_bd"](), 105_826_319),
    ("resnet38_aff", {"variant": "psa"}, TABLES["resnet38_aff"](), 106_484_032),
]


@pytest.mark.parametrize("arch,kwargs,table,n_params", CASES, ids=[f"{c[0]}-{list(c[1].values())}" for c in CASES])
def test_state_dict_is_the_published_table(arch, kwargs, table, n_params):
    with torch.device("meta"):  # names and shapes only: no 105M-parameter initialisation
        model = ARCHITECTURES.get(arch)(**kwargs)
    got = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert got == [(k, shape) for k, shape, _ in table]
    assert sum(p.numel() for p in model.parameters()) == n_params


def test_key_counts_match_the_sheets():
    assert len(backbone_table()) == 228
    assert [len(TABLES[k]()) for k in ("resnet38_seam", "resnet38_seam_bd", "resnet38_aff")] == [232, 259, 232]
    assert len(TABLES["resnet38_cls"](20)) == 229


def test_taps_and_output_stride():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 65, 42)
    m = ResNet38().eval()
    sb = ResNet38(taps="sbnet").eval()
    sb.load_state_dict(m.state_dict())
    with torch.no_grad():
        a, b = m.forward_as_dict(x), sb.forward_as_dict(x)
        plain_out, sbnet_out = m(x), sb(x)
    assert {k: tuple(v.shape[1:]) for k, v in a.items()} == {
        "conv4": (512, 9, 6), "conv5": (1024, 9, 6), "conv6": (4096, 9, 6)}  # ceil(H/8) x ceil(W/8)
    assert {k: tuple(v.shape[1:]) for k, v in b.items()} == {
        "conv1": (64, 65, 42), "conv2": (128, 33, 21), "conv3": (256, 17, 11), "conv4": (512, 9, 6),
        "conv5": (1024, 9, 6), "conv6": (2048, 9, 6), "conv7": (4096, 9, 6)}
    # SBNet's conv7 is everyone else's conv6; SBNet's forward() returns its 2048-channel conv6
    assert torch.equal(a["conv6"], b["conv7"]) and torch.equal(a["conv4"], b["conv4"])
    assert plain_out.shape[1] == 4096 and sbnet_out.shape[1] == 2048


def test_train_mode_freezes_bn_and_early_blocks_and_returns_module():
    model = ResNet38Cls(20)
    assert model.train() is model and model.eval() is model
    model.train()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 37 and not any(m.training for m in bns)
    assert all(not m.weight.requires_grad and not m.bias.requires_grad for m in bns)
    assert model.b6.dropout_2b1.training and model.dropout7.training
    assert not model.conv1a.weight.requires_grad and not model.b2_2.conv_branch2b1.weight.requires_grad
    assert model.b3.conv_branch2a.weight.requires_grad and model.fc8.weight.requires_grad
    x = torch.randn(1, 3, 32, 32)
    stats = model.bn7.running_mean.clone()
    model(x).sum().backward()
    assert torch.equal(stats, model.bn7.running_mean)
    assert model.conv1a.weight.grad is None and model.b3.conv_branch2a.weight.grad is not None


def test_bare_backbone_freezes_only_conv1a():
    model = ResNet38().train()
    assert not model.conv1a.weight.requires_grad and model.b2.conv_branch2a.weight.requires_grad


@pytest.mark.parametrize("cls,kwargs,new", [
    (ResNet38Cls, {"num_classes": 20}, ["fc8.weight"]),
    (ResNet38Eps, {"num_classes": 21}, ["fc8.weight"]),
    (ResNet38Seam, {}, ["fc8.weight", "f8_3.weight", "f8_4.weight", "f9.weight"]),
    (AffinityNet, {}, ["f8_3.weight", "f8_4.weight", "f8_5.weight", "f9.weight"]),
    (ResNet38SeamBD, {}, ["fc8.weight", "f8_3.weight", "f8_4.weight", "f9.weight"]),
])
def test_parameter_groups_put_new_layers_apart(cls, kwargs, new):
    with torch.device("meta"):
        model = cls(**kwargs)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = model.get_parameter_groups()
    assert sorted(names[id(p)] for p in groups[2]) == sorted(new)
    assert groups[3] == []
    convs = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(groups[0]) == len(convs) - len(new)  # frozen conv weights included, as upstream
    biases = [n for n in names.values() if n.startswith(("edge_layer.",)) and n.endswith(".bias")]
    assert sorted(names[id(p)] for p in groups[1]) == sorted(biases)  # only SBNet's edge convs have biases
    assert not any("bn" in names[id(p)] for g in groups for p in g)


def test_training_forward_outputs(standin):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 40, 56)
    with torch.no_grad():
        assert standin("eps_base_resnet38_coco")(x).shape == (2, 80)
        pred, cam = standin("eps_resnet38_coco")(x)
        assert pred.shape == (2, 81) and cam.shape == (2, 81, 5, 7)
        assert torch.allclose(pred, cam.mean(dim=(2, 3)), atol=1e-4 * cam.abs().max())
        cam, cam_rv = standin("cda_seam_resnet38_voc")(x)
        assert cam.shape == cam_rv.shape == (2, 21, 40, 56)
        bd = standin("sbnet_resnet38_voc")
        canny = torch.zeros(2, 1, 40, 56)
        canny[:, :, 10] = 255
        cam, cam_rv, edge = bd(x, canny=canny)
        assert cam.shape == cam_rv.shape == edge.shape == (2, 21, 40, 56)
        # cam_rv does not depend on the boundary branch; the edge does depend on the Canny input
        assert torch.allclose(bd.forward_cam_rv(x), cam_rv, atol=1e-5)
        assert not torch.allclose(bd(x, canny=torch.zeros_like(canny))[2], edge)

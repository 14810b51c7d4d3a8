"""DeepLab networks: key tables, shapes, ASPP / MSC semantics, frozen BN, parameter groups (foundations 7-8)."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from fixtures.deeplab_layouts import deeplabv1_coco_state_dict, deeplabv2_msc_state_dict, deeplabv3plus_state_dict
from wsss_zoo.models.deeplab import (MSC, ASPPSum, DeepLabV2, deeplabv1_resnet101, deeplabv2_resnet101_msc,
                                     deeplabv3plus_resnet101, load_coco_init)

SMALL = (1, 1, 1, 1)


def _with_meta(fn):
    with torch.device("meta"):
        return fn()


@pytest.mark.parametrize("build, table, n_keys, n_bn", [
    (deeplabv2_resnet101_msc, deeplabv2_msc_state_dict, 632, 104),
    (deeplabv1_resnet101, deeplabv1_coco_state_dict, 626, 104),
    (deeplabv3plus_resnet101, deeplabv3plus_state_dict, 674, 112),
])
def test_full_size_key_tables_match_the_published_layouts(build, table, n_keys, n_bn):
    own = _with_meta(build).state_dict()
    published = table()
    assert len(published) == n_keys and sum(k.endswith("num_batches_tracked") for k in published) == n_bn
    assert list(own) == list(published)
    assert all(tuple(own[k].shape) == tuple(v.shape) for k, v in published.items())


def test_parameter_totals_match_the_sheet():
    assert sum(p.numel() for p in _with_meta(deeplabv2_resnet101_msc).parameters()) == 44_048_532
    assert sum(p.numel() for p in _with_meta(deeplabv3plus_resnet101).parameters()) == 58_753_973


def test_caffe_resnet_details():
    base = _with_meta(deeplabv2_resnet101_msc).base
    assert base.layer1.pool.ceil_mode and base.layer1.pool.kernel_size == 3
    assert base.layer3.block1.reduce.conv.stride == (2, 2) and base.layer3.block1.conv3x3.conv.stride == (1, 1)
    assert base.layer4.block7.conv3x3.conv.dilation == (2, 2) and base.layer5.block2.conv3x3.conv.dilation == (4, 4)
    assert hasattr(base.layer2.block1, "shortcut") and isinstance(base.layer2.block2.shortcut, nn.Identity)
    assert [base.aspp.c0.dilation[0], base.aspp.c3.padding[0]] == [6, 24] and base.aspp.c1.bias is not None


def test_msc_shapes_in_train_and_eval_mode():
    model = deeplabv2_resnet101_msc(num_classes=3, n_blocks=SMALL)
    x = torch.randn(1, 3, 321, 321)
    with torch.no_grad():
        outs = model.train()(x)
        assert [tuple(o.shape[2:]) for o in outs] == [(41, 41), (21, 21), (31, 31), (41, 41)]
        assert model.eval()(torch.randn(1, 3, 97, 130)).shape == (1, 3, 13, 17)  # ceil(H / 8)


def test_msc_fuses_with_an_elementwise_max_of_align_corners_false_resizes():
    class Probe(nn.Module):  # "logits" = the input pooled to stride 8
        def forward(self, x):
            return F.avg_pool2d(x, 8, ceil_mode=True)

    x = torch.randn(1, 2, 64, 48)
    out = MSC(Probe(), scales=(0.5, 0.75)).eval()(x)
    full = Probe()(x)
    parts = [full] + [F.interpolate(Probe()(F.interpolate(x, scale_factor=p, mode="bilinear", align_corners=False)),
                                    size=full.shape[2:], mode="bilinear", align_corners=False) for p in (0.5, 0.75)]
    assert torch.equal(out, torch.stack(parts).max(dim=0).values)


def test_aspp_sums_its_four_branches():
    aspp = ASPPSum(8, 2, (1, 2, 3, 4))
    x = torch.randn(1, 8, 9, 9)
    with torch.no_grad():
        total = aspp(x)
        for i in (1, 2, 3):
            getattr(aspp, f"c{i}").weight.zero_()
            getattr(aspp, f"c{i}").bias.zero_()
        single = aspp(x)
    assert torch.allclose(single, aspp.c0(x)) and not torch.allclose(total, single)


def test_bn_stays_frozen_in_training_and_eval_returns_the_model():
    model = deeplabv2_resnet101_msc(num_classes=3, n_blocks=SMALL)
    assert model.train() is model and model.eval() is model
    model.train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert model.training and not any(bn.training for bn in bns)
    before = bns[0].running_mean.clone()
    model(torch.randn(1, 3, 40, 40))
    assert torch.equal(before, bns[0].running_mean)


def test_deeplabv2_parameter_groups():
    model = deeplabv2_resnet101_msc(num_classes=3, n_blocks=SMALL)
    groups = model.get_parameter_groups()
    assert len(groups["1x"]) == 1 + 4 * 3 + 4  # stem, 3 convs per block, one shortcut per stage; no BN
    assert [tuple(p.shape) for p in groups["20x"]] == [(3,)] * 4 and len(groups["10x"]) == 4
    grouped = {id(p) for g in groups.values() for p in g}
    bn_params = [p for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()]
    assert not any(id(p) in grouped for p in bn_params)


def test_coco_init_fills_the_trunk_and_keeps_the_aspp():
    model = deeplabv2_resnet101_msc(num_classes=3, n_blocks=SMALL)
    aspp = model.base.aspp.c0.weight.clone()
    init = deeplabv1_coco_state_dict(0, n_blocks=SMALL)
    load_coco_init(model, init)
    assert torch.equal(model.base.layer5.block1.increase.conv.weight, init["layer5.block1.increase.conv.weight"])
    assert torch.equal(model.base.aspp.c0.weight, aspp)
    assert deeplabv1_resnet101(n_blocks=SMALL)(torch.randn(1, 3, 33, 33)).shape == (1, 91, 5, 5)


@pytest.mark.parametrize("stride, low, out", [(16, 65, 17), (8, 65, 33)])  # 513 gives 129 and 33 / 65
def test_deeplabv3plus_shapes(stride, low, out):
    model = deeplabv3plus_resnet101(num_classes=4, output_stride=stride, layers=SMALL).eval()
    x = torch.randn(1, 3, 257, 257)
    with torch.no_grad():
        feats = model.backbone(x)
        assert feats["low_level"].shape == (1, 256, low, low) and feats["out"].shape == (1, 2048, out, out)
        assert model(x[..., :97, :130]).shape == (1, 4, 97, 130)


def test_deeplabv3plus_dilation_and_head():
    os16 = _with_meta(lambda: deeplabv3plus_resnet101(output_stride=16))
    os8 = _with_meta(lambda: deeplabv3plus_resnet101(output_stride=8))
    assert os16.backbone.layer4[0].conv2.dilation == (1, 1) and os16.backbone.layer4[1].conv2.dilation == (2, 2)
    assert os8.backbone.layer3[1].conv2.dilation == (2, 2) and os8.backbone.layer4[2].conv2.dilation == (4, 4)
    rates = [os16.classifier.aspp.convs[i][0].dilation[0] for i in (1, 2, 3)]
    assert rates == [6, 12, 18] and [os8.classifier.aspp.convs[i][0].dilation[0] for i in (1, 2, 3)] == [12, 24, 36]
    assert os16.classifier.aspp.project[3].p == 0.1
    assert os16.backbone.bn1.momentum == 0.01 and os16.classifier.project[1].momentum == 0.1
    groups = os16.get_parameter_groups()
    assert len(groups["backbone"]) + len(groups["classifier"]) == len(list(os16.parameters()))


def test_deeplabv3plus_trains_bn():
    model = deeplabv3plus_resnet101(num_classes=3, layers=SMALL).train()
    assert all(m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))

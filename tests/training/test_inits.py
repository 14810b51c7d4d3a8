"""Init mappers: registry init state dicts land on the trained networks' canonical keys (upstream's
``strict=False`` loads, but every mapped tensor must fit)."""
from collections import OrderedDict

import pytest
import torch

from training import inits
from wsss_zoo import hub
from wsss_zoo.errors import CheckpointMismatchError
from wsss_zoo.models import build_model as _build
from wsss_zoo.registry import model_entry


def build_model(name):
    return _build(model_entry(name))


@pytest.fixture
def fake_hub(monkeypatch):
    """hub.load_state_dict(name, weights) -> a given state dict (no registry file, no network)."""
    box = {}
    monkeypatch.setattr(hub, "load_state_dict", lambda entry, weights=None, **_: (box["sd"], f"<{entry.name}>"))
    return box


def _random_like(sd, seed=0):
    g = torch.Generator().manual_seed(seed)
    return OrderedDict((k, torch.randn(v.shape, generator=g) if v.is_floating_point() else v.clone())
                       for k, v in sd.items())


def test_resnet50_imagenet_lands_on_the_irn_backbone(fake_hub):
    from torchvision.models import resnet50

    fake_hub["sd"] = _random_like(resnet50(weights=None).state_dict())
    model = build_model("cda_irn_resnet50_voc")
    classifier = model.classifier.weight.clone()
    inits.load_init(model, "resnet50_imagenet")
    own = model.state_dict()
    for k, v in fake_hub["sd"].items():
        if not k.startswith("fc."):
            assert torch.equal(own["resnet50." + k], v), k
    assert torch.equal(own["classifier.weight"], classifier)  # new layers keep their init


def test_vgg16_imagenet_lands_on_the_drs_trunk(fake_hub):
    from wsss_zoo.models.vgg_drs import FEATURES_INDEX

    model = build_model("drs_vgg16_voc")
    trunk = {f"features.{idx}.{p}": getattr(model, name).__getattr__(p)
             for name, idx in FEATURES_INDEX.items() for p in ("weight", "bias")}
    fake_hub["sd"] = _random_like(OrderedDict(trunk, **{"classifier.0.weight": torch.zeros(4096, 25088)}))
    inits.load_init(model, "vgg16_imagenet")
    assert torch.equal(model.layer5_conv3.weight, fake_hub["sd"]["features.28.weight"])
    assert torch.equal(model.layer1_conv1.bias, fake_hub["sd"]["features.0.bias"])


def test_a_wrong_init_file_is_an_error(fake_hub):
    model = build_model("cda_irn_resnet50_voc")
    fake_hub["sd"] = OrderedDict({"conv1.weight": torch.zeros(64, 3, 3, 3)})  # wrong shape
    with pytest.raises(CheckpointMismatchError, match="resnet50_imagenet"):
        inits.load_init(model, "resnet50_imagenet")
    fake_hub["sd"] = OrderedDict({"layer9.0.conv1.weight": torch.zeros(1)})
    with pytest.raises(CheckpointMismatchError, match="unexpected"):
        inits.load_init(model, "resnet50_imagenet")


@pytest.mark.slow
def test_coco_and_resnet101_inits(fake_hub):
    from torchvision.models import resnet101

    from tests.fixtures.deeplab_layouts import deeplabv1_coco_state_dict

    v2 = build_model("drs_deeplabv2_resnet101_voc")
    fake_hub["sd"] = deeplabv1_coco_state_dict(seed=3)
    inits.load_init(v2, "deeplabv1_resnet101_coco")
    assert torch.equal(v2.base.layer5.block3.increase.conv.weight, fake_hub["sd"]["layer5.block3.increase.conv.weight"])
    v3 = build_model("drs_deeplabv3plus_resnet101_voc")
    fake_hub["sd"] = _random_like(resnet101(weights=None).state_dict())
    inits.load_init(v3, "resnet101_imagenet")
    assert torch.equal(v3.backbone.layer3[22].conv2.weight, fake_hub["sd"]["layer3.22.conv2.weight"])


def test_registry_init_entries_load_a_torchvision_file(tmp_path):
    """The ``resnet50_imagenet`` entry reads a torchvision-layout file through the hub (no network)."""
    from torchvision.models import resnet50

    import wsss_zoo

    sd = _random_like(resnet50(weights=None).state_dict(), seed=5)
    sd = OrderedDict((k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked"))  # the 2017 file has none
    path = tmp_path / "resnet50-19c8e357.pth"
    torch.save(sd, path)
    net = wsss_zoo.load("resnet50_imagenet", weights=str(path))
    assert torch.equal(net.layer4[2].conv3.weight, sd["layer4.2.conv3.weight"])
    model = build_model("rib_resnet50_voc")
    summary = inits.load_init(model, "resnet50_imagenet", weights=str(path))
    assert summary["loaded"] == len(sd) - 2  # fc.weight, fc.bias dropped
    assert torch.equal(model.resnet50.layer3[5].bn2.running_var, sd["layer3.5.bn2.running_var"])

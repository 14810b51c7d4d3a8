"""Weights cast once for the bf16/fp16 modes: the same outputs as autocast's per-forward cast, fresh copies
when the weights change, plain modules under autograd and in fp32."""
import copy

import numpy as np
import torch
from torch import nn

from wsss_zoo import weight_casts as W
from wsss_zoo.models import build_model
from wsss_zoo.pipelines.deeplab import deeplabv3plus_logits
from wsss_zoo.precision import apply_precision
from wsss_zoo.registry import model_entry


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1), nn.Flatten(),
                         nn.Linear(4 * 6 * 7, 5))


def _autocast(net, x):
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        return net(x)


def test_swapped_modules_give_what_autocast_gives_and_keep_names_and_keys():
    plain = _net()
    fast = W.cast_weights_once(copy.deepcopy(plain))
    assert [type(m) for m in fast] == [W.CastOnceConv2d, nn.ReLU, W.CastOnceConv2d, nn.Flatten, W.CastOnceLinear]
    assert repr(fast) == repr(plain) and list(fast.state_dict()) == list(plain.state_dict())
    x = torch.randn(2, 3, 6, 7)
    expected = _autocast(plain, x)
    assert expected.dtype == torch.bfloat16
    assert torch.equal(_autocast(fast, x), expected)
    with torch.inference_mode():  # outside autocast: float32 as before
        assert torch.equal(fast(x), plain(x))


def test_the_copy_is_made_once_and_remade_when_the_weights_change():
    net = W.cast_weights_once(_net())
    x = torch.randn(1, 3, 6, 7)
    _autocast(net, x)
    first = W._COPIES[net[0]][2]
    _autocast(net, x)
    assert W._COPIES[net[0]][2] is first  # no second cast
    other = _net()
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(-0.5)
    net.load_state_dict(other.state_dict())  # in place: the version counters move
    assert torch.equal(_autocast(net, x), _autocast(other, x))
    assert W._COPIES[net[0]][2] is not first


def test_autograd_runs_the_plain_modules_and_fp32_restores_them():
    net = W.cast_weights_once(_net())
    x = torch.randn(1, 3, 6, 7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        net(x).float().sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in net.parameters())
    assert not W._COPIES.get(net[0])  # nothing cached under autograd
    W.restore_weights(net)
    assert [type(m) for m in net] == [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.Flatten, nn.Linear]


def test_a_deeplab_network_in_bf16_matches_per_forward_autocast():
    torch.manual_seed(0)
    entry = model_entry("drs_deeplabv3plus_resnet101_voc")
    net = build_model(entry, layers=(1, 1, 1, 1)).eval()
    net.wsss_zoo_entry = entry
    apply_precision(net, "bf16")
    assert sum(isinstance(m, W.CastOnceConv2d) for m in net.modules()) > 20
    per_forward = W.restore_weights(copy.deepcopy(net))  # bf16 autocast, weights cast on every call
    image = np.random.default_rng(1).integers(0, 255, (33, 47, 3), dtype=np.uint8)
    assert torch.equal(deeplabv3plus_logits(net, image), deeplabv3plus_logits(per_forward, image))
    apply_precision(net, "fp32")
    assert not any(isinstance(m, (W.CastOnceConv2d, W.CastOnceLinear)) for m in net.modules())

"""Precision modes: resolution rules and errors, autocast only around the network, float32 after it."""
import numpy as np
import pytest
import torch

import wsss_zoo
from wsss_zoo import precision as P
from wsss_zoo.errors import ConfigError
from wsss_zoo.models import build_model
from wsss_zoo.pipelines.base import compute_cam, compute_segment
from wsss_zoo.registry import model_entry

CPU = torch.device("cpu")
needs_bf16 = pytest.mark.skipif(not P.cpu_supports_bf16(), reason="this CPU has no AVX512-BF16/AMX-BF16")


def test_resolution_on_the_cpu(monkeypatch):
    monkeypatch.setattr(P, "cpu_supports_bf16", lambda: True)
    assert P.resolve_precision("auto", CPU)[0] == "bf16" and P.resolve_precision("BF16", CPU)[0] == "bf16"
    assert P.resolve_precision(None, CPU)[0] == "fp32"
    monkeypatch.setattr(P, "cpu_supports_bf16", lambda: False)
    mode, reason = P.resolve_precision("auto", CPU)
    assert mode == "fp32" and "no bfloat16" in reason
    for bad in ("bf16", "fp16"):
        with pytest.raises(ConfigError) as err:
            P.resolve_precision(bad, CPU)
        assert "'auto'" in str(err.value) and "'fp32'" in str(err.value)
    with pytest.raises(ConfigError, match="fp32, bf16, fp16, auto"):
        P.resolve_precision("int8", CPU)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path, monkeypatch):
    real_open = open

    def fake_open(path, *a, **k):
        if path == "/proc/cpuinfo":
            target = tmp_path / "cpuinfo"
            target.write_text("processor : 0\nflags : fpu sse avx2 avx512f amx_bf16\n")
            return real_open(target, *a, **k)
        return real_open(path, *a, **k)

    P.cpu_supports_bf16.cache_clear()
    monkeypatch.setattr("builtins.open", fake_open)
    monkeypatch.setattr(P.platform, "system", lambda: "Linux")
    try:
        assert P.cpu_supports_bf16()
    finally:
        P.cpu_supports_bf16.cache_clear()


def _tiny_irn():
    torch.manual_seed(0)
    entry = model_entry("cda_irn_resnet50_voc")
    net = build_model(entry).eval()
    net.wsss_zoo_entry = entry
    return net


def test_fp32_is_untouched_by_the_precision_machinery():
    net = _tiny_irn()
    image = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    plain = compute_cam(net, image, [1, 15], scales=[1.0, 0.5])
    P.apply_precision(net, "fp32")
    assert torch.equal(compute_cam(net, image, [1, 15], scales=[1.0, 0.5]), plain)
    assert net.resnet50.conv1.weight.is_contiguous()


@needs_bf16
def test_bf16_runs_the_network_in_bfloat16_and_the_rest_in_float32():
    net = _tiny_irn()
    image = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    reference = compute_cam(net, image, [1, 15], scales=[1.0])
    P.apply_precision(net, "bf16")
    assert net.resnet50.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    seen = []
    forward = net.cam_logits

    def spy(x):
        out = forward(x)
        seen.append((torch.is_autocast_enabled("cpu"), x.is_contiguous(memory_format=torch.channels_last), out.dtype))
        return out

    net.cam_logits = spy
    fast = compute_cam(net, image, [1, 15], scales=[1.0])
    assert seen == [(True, True, torch.bfloat16)]  # the forward ran under autocast, on channels-last input
    assert fast.dtype == torch.float32 and fast.shape == reference.shape
    assert not torch.equal(fast, reference) and (fast - reference).abs().max() < 0.2


@needs_bf16
def test_segmentation_logits_are_float32_after_a_bf16_forward():
    from wsss_zoo.pipelines.deeplab import deeplabv3plus_logits

    torch.manual_seed(0)
    entry = model_entry("drs_deeplabv3plus_resnet101_voc")
    net = build_model(entry, layers=(1, 1, 1, 1)).eval()
    net.wsss_zoo_entry = entry
    image = np.random.default_rng(1).integers(0, 255, (33, 47, 3), dtype=np.uint8)
    reference = deeplabv3plus_logits(net, image)
    P.apply_precision(net, "bf16")
    fast = deeplabv3plus_logits(net, image)
    assert fast.dtype == torch.float32 and fast.shape == reference.shape == (21, 33, 47)
    assert not torch.equal(fast, reference)
    assert compute_segment(net, image).shape == (33, 47)


def test_load_records_the_precision_and_the_pipeline_says_it(monkeypatch, tmp_path):
    from tests.fixtures import irn_layouts

    monkeypatch.setattr(P, "cpu_supports_bf16", lambda: True)
    cam = irn_layouts.write_irn_cam(tmp_path / "cam.pth", 20, seed=0)
    edge = irn_layouts.write_irn_edge(tmp_path / "edge.pth", seed=1)
    net = wsss_zoo.load("cda_irn_resnet50_voc", weights=str(cam), device="cpu", precision="auto")
    assert net.wsss_zoo_precision == "bf16"
    with pytest.raises(ConfigError, match="GPUs"):
        wsss_zoo.load("cda_irn_resnet50_voc", weights=str(cam), device="cpu", precision="fp16")
    pipe = wsss_zoo.load_pipeline("cda_irn_voc", weights={"cam": str(cam), "irn": str(edge)}, device="cpu",
                                  precision="bf16")
    assert pipe.precision == "bf16" and "precision='bf16'" in repr(pipe)
    assert all(m.wsss_zoo_precision == "bf16" for m in pipe.models.values())


def test_scales_of_the_same_input_size_run_the_network_once():
    """(1.0, 1.0, 0.5) on a tiny image: two passes, and the CAM equals the one computed pass by pass."""
    net = _tiny_irn()
    image = np.random.default_rng(3).integers(0, 255, (20, 24, 3), dtype=np.uint8)
    calls = []
    forward = net.cam_logits
    net.cam_logits = lambda x: calls.append(tuple(x.shape)) or forward(x)
    both = compute_cam(net, image, [2, 7], scales=[1.0, 1.0, 0.5])
    assert calls == [(2, 3, 20, 24), (2, 3, 10, 12)]
    net.cam_logits = forward
    from wsss_zoo.pipelines.cam import fuse_passes, run_passes
    from wsss_zoo.pipelines.irn import IRN_CAM
    from wsss_zoo.pipelines.preprocess import IMAGENET

    with torch.inference_mode():
        one = next(run_passes(net, image, [2, 7], IRN_CAM, scales=[1.0], flip=True, pre=IMAGENET))
        half = next(run_passes(net, image, [2, 7], IRN_CAM, scales=[0.5], flip=True, pre=IMAGENET))
        expected = fuse_passes([one, one, half], IRN_CAM, (20, 24), flip=True)["high_res"]
    assert torch.equal(both, expected)

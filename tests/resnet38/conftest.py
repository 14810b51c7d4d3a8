"""Shared fixtures of the ResNet-38 tests: stand-in networks (built once per session) and small images."""
import numpy as np
import pytest
import torch

from fixtures.resnet38_layouts import stand_in_for

H, W = 64, 80  # small, with W not a multiple of 16 and H/W giving different grid sizes


@pytest.fixture(scope="session")
def standin():
    """``standin(name, seed=0)``: the network of a ResNet-38 registry name with stand-in weights, as load() leaves it."""
    from wsss_zoo.convert import load_state_dict_strict
    from wsss_zoo.models import build_model
    from wsss_zoo.registry import model_entry

    cache = {}

    def get(name, seed=0):
        if (name, seed) not in cache:
            entry = model_entry(name)
            with torch.device("meta"):  # skip the random initialisation: every value is overwritten
                model = build_model(entry)
            model = model.to_empty(device="cpu")
            load_state_dict_strict(model, stand_in_for(name, seed=seed))
            model.eval()
            model.wsss_zoo_entry = entry
            cache[(name, seed)] = model
        return cache[(name, seed)]

    yield get
    cache.clear()


@pytest.fixture(scope="session")
def image():
    """A smooth, structured uint8 RGB image (H x W)."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    r = 127 + 100 * np.sin(xx / 7.0) * np.cos(yy / 9.0)
    g = 255 * (xx + yy) / (H + W)
    b = np.where((xx - 50) ** 2 + (yy - 30) ** 2 < 300, 230, 40)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def with_scales(model, scales):
    """A copy of ``model``'s registry entry with other CAM scales (keeps tests small)."""
    return model.wsss_zoo_entry.with_cam(scales=scales)


@pytest.fixture
def small_scales():
    """Temporarily run a network's CAM recipe at other scales: ``with small_scales(model, [1.0]): ...``."""
    import contextlib

    @contextlib.contextmanager
    def ctx(model, scales=(1.0,)):
        old = model.wsss_zoo_entry
        model.wsss_zoo_entry = with_scales(model, scales)
        try:
            yield model
        finally:
            model.wsss_zoo_entry = old

    return ctx


@pytest.fixture(autouse=True)
def _drop_large_files(tmp_path, _isolated_cache):
    """ResNet-38 checkpoints are ~420 MB: remove those a test wrote (and their cached conversions)."""
    yield
    for root in (tmp_path, _isolated_cache):
        for f in root.rglob("*"):
            if f.is_file() and f.stat().st_size > (16 << 20):
                f.unlink()

"""Small DeepLab networks (one bottleneck per stage, few classes) with stand-in weights in the published layouts."""
import pytest

from fixtures.deeplab_layouts import deeplabv2_msc_state_dict, deeplabv3plus_state_dict

SMALL = (1, 1, 1, 1)
N_CLASSES = 5


@pytest.fixture(scope="session")
def small_deeplab():
    """``small_deeplab(name)``: the registry network built with one block per stage and 5 classes, stand-in
    weights converted by its layout rule, ``wsss_zoo_entry`` attached as ``wsss_zoo.load`` does."""
    from wsss_zoo.convert import convert_state_dict, load_state_dict_strict
    from wsss_zoo.models import build_model
    from wsss_zoo.registry import model_entry

    cache = {}

    def get(name):
        if name not in cache:
            entry = model_entry(name)
            if entry.layout == "deeplabv2_msc":
                model = build_model(entry, num_classes=N_CLASSES, n_blocks=SMALL)
                raw = deeplabv2_msc_state_dict(0, N_CLASSES, SMALL)
            else:
                model = build_model(entry, num_classes=N_CLASSES, layers=SMALL)
                raw = {"model_state": deeplabv3plus_state_dict(0, N_CLASSES, SMALL)}
            load_state_dict_strict(model, convert_state_dict(raw, entry.layout))
            model.eval()
            model.wsss_zoo_entry = entry
            cache[name] = model
        return cache[name]

    return get


@pytest.fixture(scope="session")
def photo():
    """A 61x83 image with smooth regions and edges (different H and W, neither a multiple of 8)."""
    import numpy as np

    yy, xx = np.mgrid[0:61, 0:83]
    img = np.zeros((61, 83, 3), np.float64)
    img[..., 0] = 200 * (xx > 40) + 30
    img[..., 1] = 120 + 100 * np.sin(yy / 9.0)
    img[..., 2] = 255 * ((xx - 20) ** 2 + (yy - 30) ** 2 < 300)
    return np.clip(img + np.random.RandomState(0).randn(*img.shape) * 8, 0, 255).astype(np.uint8)


"""Stand-in checkpoints in the IRN-family layouts, written and loaded once per session."""
import numpy as np
import pytest

import wsss_zoo
from tests.fixtures import irn_layouts


@pytest.fixture(scope="session")
def irn_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("irn_files")
    return {
        "cam": irn_layouts.write_irn_cam(d / "res50_cam.pth.pth", 20, seed=0),
        "cam80": irn_layouts.write_irn_cam(d / "res50_cam_coco.pth.pth", 80, seed=1),
        "edge": irn_layouts.write_irn_edge(d / "res50_irn.pth", seed=2),
    }


@pytest.fixture(scope="session")
def _session_home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WSSS_ZOO_HOME", str(tmp_path_factory.mktemp("irn_home")))
        mp.setenv("WSSS_ZOO_OFFLINE", "1")
        yield mp


@pytest.fixture(scope="session")
def cam_model(irn_files, _session_home):
    """cda_irn_resnet50_voc on stand-in weights (tests must not modify it)."""
    return wsss_zoo.load("cda_irn_resnet50_voc", weights=irn_files["cam"])


@pytest.fixture(scope="session")
def edge_model(irn_files, _session_home):
    return wsss_zoo.load("cda_irn_edge_resnet50_voc", weights=irn_files["edge"])


@pytest.fixture(scope="session")
def small_image():
    """A 37x53 smooth colour image with a bright blob (sizes not multiples of 4 or 16)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:37, 0:53]
    img = np.stack([128 + 100 * np.sin(xx / 7.0), 128 + 100 * np.cos(yy / 5.0), 80 + 0 * xx], -1)
    img[(yy - 18) ** 2 + (xx - 30) ** 2 < 64] = (250, 40, 40)
    return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)

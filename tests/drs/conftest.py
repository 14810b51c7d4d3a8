"""Stand-in DRS checkpoints written once per session in the published layouts."""
import pytest

from fixtures.drs_layouts import write_drs_learnable, write_drs_refine


@pytest.fixture(scope="session")
def drs_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("drs_weights")
    return {"cls": write_drs_learnable(root / "DRS_learnable.pth", seed=0),
            "refine": write_drs_refine(root / "Refine_DRS_learnable.pth", seed=1)}

"""Training-side readers of files from earlier stages (CRF score dicts, CDA object banks): no pickled code."""
import numpy as np
import pytest

from fixtures.hostile import malicious_npy
from training.data.dense import read_score_dict
from wsss_zoo.errors import DatasetError


def test_crf_score_dicts_load_and_hostile_ones_are_refused(tmp_path):
    scores = {0: np.full((3, 4), 0.5, np.float32), 15: np.full((3, 4), 0.25, np.float32)}
    np.save(tmp_path / "ok.npy", scores, allow_pickle=True)
    out = read_score_dict(tmp_path / "ok.npy")
    assert out.shape == (3, 4, 2) and out[0, 0].tolist() == [0.5, 0.25]
    marker = tmp_path / "marker"
    malicious_npy(tmp_path / "evil.npy", marker, "exec", wrap=scores)
    with pytest.raises(DatasetError, match="was refused"):
        read_score_dict(tmp_path / "evil.npy")
    assert not marker.exists()


def test_object_bank_files_are_read_without_pickled_code(tmp_path):
    from training.data.classification import InstanceBank

    (tmp_path / "3").mkdir()
    marker = tmp_path / "marker"
    malicious_npy(tmp_path / "3" / "a.npy", marker, "os.system", wrap={"img": np.zeros((2, 2, 3), np.uint8)})
    bank = InstanceBank(tmp_path, 20)
    present = np.zeros(20)
    with pytest.raises(DatasetError, match="was refused"):
        bank.draw(present)
    assert not marker.exists()

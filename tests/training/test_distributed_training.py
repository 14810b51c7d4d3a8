"""training/distributed.py runs on the one torchrun context of wsss_zoo.distributed (issue 11/13)."""
import torch

from training import run
from training.distributed import DistContext, mean_over_ranks


def test_a_stray_rank_stops_training_with_a_message(tmp_path, monkeypatch, capsys):
    """RANK=1 left in the shell (no torchrun) used to run as a non-main rank of a world of 1."""
    monkeypatch.setenv("RANK", "1")
    assert run.main(["rib_cam_voc", "--smoke", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "RANK=1 is set" in err and "unset RANK" in err
    assert not (tmp_path / "x").exists()


def test_training_and_generation_share_one_context():
    from wsss_zoo import distributed

    assert DistContext is distributed.DistContext
    ctx = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    assert mean_over_ranks(ctx, {"a": 1.5}) == {"a": 1.5}

"""Run checkpoints: written atomically, never through a planted symlink."""
import json
import os

import torch

from training.checkpoint import load_last, save_final, save_last


def test_checkpoints_replace_planted_symlinks(tmp_path):
    """The old writer used the fixed name ``.<file>.tmp``; a symlink planted there was written through."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    for name in (".r.last.pth.tmp", "r.last.pth", ".final.pth.tmp", "final.pth", "final.json", "final.json.tmp"):
        os.symlink(victim, tmp_path / name)
    model = torch.nn.Linear(2, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    save_last(tmp_path, "r", model, opt, None, step=5)
    save_final(tmp_path, "final", model.state_dict(), {"miou": 1.0})
    assert victim.read_bytes() == b"precious"
    assert load_last(tmp_path, "r")["step"] == 5
    assert torch.equal(torch.load(tmp_path / "final.pth", weights_only=True)["weight"], model.weight.detach())
    assert json.loads((tmp_path / "final.json").read_text())["miou"] == 1.0
    assert not any(p.name.endswith(".tmp") and not p.is_symlink() for p in tmp_path.iterdir())

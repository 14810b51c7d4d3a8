"""``python training/run.py RECIPE --smoke``: a few CPU steps on a tiny generated dataset per recipe.

The fast portion covers the cheap networks, the prep recipes and one 2-process torchrun run; the
``slow`` marker runs every recipe (ResNet-38 and ResNet-101 networks, several minutes on 2 cores).
"""
import json
import os
import subprocess
import sys
import pytest
import torch

from training import run
from training.recipes import RECIPES

FAST = ("cda_irn_edge_voc", "cda_irn_baseline_ir_labels_voc", "cda_object_bank_voc",
        "cda_seam_crf_labels_voc", "sbnet_boundary_maps_voc")
SLOW = tuple(n for n in RECIPES if n not in FAST + ("rib_cam_voc",))  # rib_cam_voc: the two tests below


def _smoke(name, out, capsys, *extra):
    code = run.main([name, "--smoke", "--out", str(out), *extra])
    verdict = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    print(json.dumps(verdict))  # shown with -rP: the loss at the first and the last step
    assert code == 0 and verdict["ok"], verdict
    return verdict


def _check(name, verdict):
    if RECIPES[name].stage == "prep":
        assert verdict["files"] > 0
    else:
        assert verdict["finite"] and verdict["moved"] and verdict["loads"]


@pytest.mark.parametrize("name", FAST)
def test_smoke_fast(name, tmp_path, capsys):
    _check(name, _smoke(name, tmp_path / name, capsys))


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_smoke_every_recipe(name, tmp_path, capsys):
    _check(name, _smoke(name, tmp_path / name, capsys))


def test_outputs_of_a_training_run(tmp_path, capsys):
    """<registry name>.pth + .json + logs + resume state; a rerun resumes instead of retraining."""
    out = tmp_path / "rib"
    _smoke("rib_cam_voc", out, capsys)
    report = json.loads((out / "rib_resnet50_voc.json").read_text())
    assert report["load_as"] == "rib_resnet50_voc" and report["steps"] == 2
    assert len(report["metrics"]["losses"]) == 2 and report["config"]["quirks"] == {"polyoptimizer_momentum": True}
    assert (out / "rib_cam_voc.last.pth").is_file() and (out / "rib_cam_voc.log.jsonl").is_file()
    lines = [json.loads(x) for x in (out / "rib_cam_voc.log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2]
    state = torch.load(out / "rib_cam_voc.last.pth", weights_only=True)
    assert state["step"] == 2 and state["recipe"] == "rib_cam_voc"


def test_two_process_torchrun(tmp_path):
    """DDP over gloo: 2 processes, one recipe; rank 0 reports the verdict."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(run.README.parent / "run.py"), "rib_cam_voc", "--smoke", "--out", str(tmp_path / "ddp")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    verdict = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    assert verdict["ok"], verdict
    report = json.loads((tmp_path / "ddp" / "rib_resnet50_voc.json").read_text())
    assert report["world_size"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cda_irn_edge_voc", "eps_voc", "drs_cls_voc", "drs_deeplabv3plus_voc"])
def test_two_process_torchrun_per_family(name, tmp_path):
    """IRN, ResNet-38, DRS VGG and DeepLab families under DDP (gloo, 2 processes)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(run.README.parent / "run.py"), name, "--smoke", "--out", str(tmp_path / "ddp")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])["ok"]


def test_sampler_resumes_inside_an_epoch():
    from torch.utils.data import TensorDataset

    from training.distributed import DistContext, ResumableSampler

    ctx = DistContext(rank=1, world_size=2, local_rank=1, device=torch.device("cpu"))
    data = TensorDataset(torch.arange(10))
    full = ResumableSampler(data, ctx, shuffle=True, seed=3)
    full.set_epoch(4)
    order = list(full)
    part = ResumableSampler(data, ctx, shuffle=True, seed=3)
    part.set_epoch(4)
    part.start_at(2)
    assert len(part) == len(order) - 2 and list(part) == order[2:]
    assert list(part) == order  # the offset applies to one pass only


@pytest.mark.slow
def test_a_rerun_resumes(tmp_path, capsys):
    out = tmp_path / "resume"
    _smoke("drs_refine_voc", out, capsys, "--iterations", "2")
    _smoke("drs_refine_voc", out, capsys, "--iterations", "4", "--resume")
    report = json.loads((out / "drs_refine_vgg16_voc.json").read_text())
    assert report["steps"] == 4 and len(report["metrics"]["losses"]) == 2  # steps 3 and 4 only
    assert "resumed drs_refine_voc at step 2/4" in (out / "drs_refine_voc.log").read_text()

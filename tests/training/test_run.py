"""training/run.py options of reduced runs (``--random-init``, ``--train-bn``, ``--crop``, ``--resize-long``)
and what they change in the run."""
import json

import pytest
import torch

from training import run
from training.engine import planned_steps
from wsss_zoo.errors import ConfigError


def _cfg(*argv):
    return run.config_from_args(run.parser().parse_args(list(argv) + ["--out", "unused"]))


def test_reduced_run_options_reach_the_config():
    cfg = _cfg("cda_irn_baseline_cam_voc", "--random-init", "--train-bn", "--crop", "96", "--resize-long", "80", "120",
               "--iterations", "7", "--batch-size", "4")
    assert cfg.random_init and cfg.train_bn and not cfg.no_dropout
    data = cfg.data()
    assert data["crop"] == 96 and data["resize_long"] == (80, 120) and data["pipeline"] == "irn"
    assert planned_steps(cfg, n_images=100, global_batch=4) == {"total": 7, "max_step": 7, "per_epoch": 25}
    plain = _cfg("cda_irn_baseline_cam_voc")
    assert not plain.random_init and not plain.train_bn
    assert plain.data()["crop"] == 512 and plain.data()["resize_long"] == (320, 640)
    assert json.dumps(cfg.to_dict())  # the run's JSON report holds them


def test_an_override_the_recipe_has_no_setting_for_is_an_error():
    cfg = _cfg("drs_refine_voc", "--resize-long", "80", "120")
    with pytest.raises(ConfigError, match="resize_long.*drop --resize-long"):
        cfg.data()


@pytest.mark.parametrize("argv", [("--crop", "0"), ("--resize-long", "120", "80"), ("--resize-long", "0", "8")])
def test_bad_sizes_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        _cfg("eps_base_voc", *argv)
    assert exc.value.code == 2 and "--" in capsys.readouterr().err


def test_train_bn_run_writes_trained_statistics(tmp_path, capsys):
    """A smoke run with --train-bn --crop: the checkpoint's BN statistics moved (frozen BN keeps the init's
    0 / 1), the crop reached the loader, and the weights load through wsss_zoo.load."""
    out = tmp_path / "irn"
    code = run.main(["cda_irn_baseline_cam_voc", "--smoke", "--train-bn", "--crop", "48", "--out", str(out)])
    verdict = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and verdict["ok"], verdict
    report = json.loads((out / "cda_irn_baseline_cam_voc.json").read_text())
    assert report["config"]["train_bn"] and report["config"]["data_overrides"] == {"crop": 48}
    sd = torch.load(out / "cda_irn_baseline_cam_voc.pth", weights_only=True)
    assert float(sd["resnet50.layer3.0.bn1.running_mean"].abs().max()) > 0
    assert int(sd["resnet50.layer3.0.bn1.num_batches_tracked"]) == 2


def test_a_recipe_without_the_option_fails_with_a_message(tmp_path, capsys):
    code = run.main(["drs_refine_voc", "--smoke", "--resize-long", "40", "60", "--out", str(tmp_path / "drs")])
    assert code == 2 and "drop --resize-long" in capsys.readouterr().err


def _dropout_rates(model):
    return sorted(m.p for m in model.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd))


def test_no_dropout_sets_every_dropout_layer_to_zero():
    from training.tasks import make_task

    upstream = make_task(_cfg("eps_base_voc", "--random-init"), None).build_model()
    assert _dropout_rates(upstream) == [0.3, 0.3, 0.5, 0.5, 0.5]  # b6 (2), b7 (2), dropout7
    cfg = _cfg("eps_base_voc", "--random-init", "--no-dropout")
    assert cfg.no_dropout
    assert _dropout_rates(make_task(cfg, None).build_model()) == [0.0] * 5

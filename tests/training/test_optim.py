"""Optimisers and lr schedules against the upstream definitions (foundations.md 4.4, eps.md 6.4-6.5,
drs.md 7, cda.md 7.3)."""
import math

import pytest
import torch

from training.config import RunConfig
from training.engine import planned_steps
from training.optim import OptimSpec, ScheduleSpec, apply_lr, build_optimizer, lr_multiplier
from training.recipes import get_recipe


def _params(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(5, generator=g)), torch.nn.Parameter(torch.randn(3, generator=g))]


def _grads(params, step):
    for i, p in enumerate(params):
        p.grad = torch.full_like(p, 0.1 * (step + 1) + i)


def test_poly_sgd_reproduces_upstream_positional_sgd_call():
    """PolyOptimizer: ``SGD(params, lr, weight_decay)`` -> momentum = weight decay; groups carry their own
    decay; lr = initial * (1 - step / max_step) ** 0.9 before each step."""
    lr, wd, max_step = 0.1, 1e-4, 7
    ours_p, ref_p = _params(), _params()
    ours = build_optimizer([{"params": ours_p[:1], "lr_mult": 1.0}, {"params": ours_p[1:], "lr_mult": 10.0}],
                           OptimSpec("poly_sgd", lr=lr, weight_decay=wd))
    ref = torch.optim.SGD([{"params": ref_p[:1], "lr": lr, "weight_decay": wd},
                           {"params": ref_p[1:], "lr": 10 * lr, "weight_decay": wd}], lr, wd)  # upstream call
    assert ref.param_groups[0]["momentum"] == wd  # the quirk itself
    assert all(g["momentum"] == wd for g in ours.param_groups)
    initial = [g["lr"] for g in ref.param_groups]
    for step in range(4):
        for g, lr0 in zip(ref.param_groups, initial):
            g["lr"] = lr0 * (1 - step / max_step) ** 0.9
        apply_lr(ours, ScheduleSpec("poly"), step, max_step, 1)
        _grads(ours_p, step)
        _grads(ref_p, step)
        ours.step()
        ref.step()
    for a, b in zip(ours_p, ref_p):
        assert torch.allclose(a, b, atol=0, rtol=0)


def test_fix_flag_uses_real_momentum():
    opt = build_optimizer([{"params": _params(), "lr_mult": 1.0}], OptimSpec("poly_sgd", lr=0.1, weight_decay=5e-4),
                          fix_polyoptimizer_momentum=True)
    assert opt.param_groups[0]["momentum"] == 0.9


def test_poly_is_frozen_after_max_step():
    spec = ScheduleSpec("poly")
    assert lr_multiplier(spec, 0, 10, 1) == 1.0
    last = (1 - 9 / 10) ** 0.9
    assert lr_multiplier(spec, 9, 10, 1) == pytest.approx(last)
    assert lr_multiplier(spec, 10, 10, 1) == pytest.approx(last)
    assert lr_multiplier(spec, 500, 10, 1) == pytest.approx(last)


def test_kazuto_poly_updates_every_ten_iterations():
    """kazuto PolynomialLR stepped with epoch=iteration: lr for iterations 1..10 is the base, then
    (1 - 10/max)^0.9 for iterations 11..20 (0-based steps 10..19)."""
    spec = ScheduleSpec("poly_every", every=10)
    assert [lr_multiplier(spec, s, 100, 1) for s in range(10)] == [1.0] * 10
    assert lr_multiplier(spec, 10, 100, 1) == pytest.approx(0.9 ** 0.9)
    assert lr_multiplier(spec, 19, 100, 1) == pytest.approx(0.9 ** 0.9)
    assert lr_multiplier(spec, 20, 100, 1) == pytest.approx(0.8 ** 0.9)


def test_vainf_poly_has_a_floor():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([{"params": [p], "lr_mult": 1.0}], OptimSpec("sgd", lr=0.05))
    spec = ScheduleSpec("poly_min", min_lr=1e-6)
    assert apply_lr(opt, spec, 0, 100, 1) == pytest.approx(0.05)
    assert apply_lr(opt, spec, 50, 100, 1) == pytest.approx(0.05 * 0.5 ** 0.9)
    assert apply_lr(opt, spec, 100, 100, 1) == pytest.approx(1e-6)


def test_drs_step_decay_at_the_start_of_epochs_5_and_10():
    spec = ScheduleSpec("step", milestones=(5, 10), gamma=0.1)
    per_epoch = 7
    epoch_lr = [lr_multiplier(spec, (e - 1) * per_epoch, 0, per_epoch) for e in range(1, 16)]
    assert epoch_lr[:4] == [1.0] * 4
    assert epoch_lr[4:9] == [pytest.approx(0.1)] * 5
    assert epoch_lr[9:] == [pytest.approx(0.01)] * 6


def _cfg(name, **kw):
    return RunConfig(recipe=get_recipe(name), out_dir=None, **kw)


def test_eps_coco_short_decay_matches_the_released_logs():
    """eps.md 6.5: 256,500 iterations, poly max_step 15 * (82,081 // 16) = 76,950."""
    plan = planned_steps(_cfg("eps_coco"), 82081, 16)
    assert plan["total"] == 256500 and plan["max_step"] == 76950
    assert planned_steps(_cfg("eps_coco", fixed_quirks={"short_poly_decay"}), 82081, 16)["max_step"] == 256500
    voc = planned_steps(_cfg("eps_voc"), 10582, 8)
    assert voc["total"] == voc["max_step"] == 20000


def test_cda_cam_steps_double_while_max_step_counts_batches_of_16():
    """cda.md 7.3: loader batch 8 -> 6,610 steps; max_step (10582 // 16) * 5 = 3,305."""
    plan = planned_steps(_cfg("cda_irn_cam_voc"), 10582, 8)
    assert plan["total"] == 6610 and plan["max_step"] == 3305
    base = planned_steps(_cfg("cda_irn_baseline_cam_voc"), 10582, 16)
    assert base["total"] == base["max_step"] == 3305


def test_epoch_recipes_use_upstream_step_counts():
    assert planned_steps(_cfg("cda_irn_edge_voc"), 10582, 32)["total"] == 990      # foundations 6.3
    assert planned_steps(_cfg("sbnet_sb_voc"), 10582, 8)["total"] == 132200        # sbnet.md 7
    assert planned_steps(_cfg("sbnet_aff_voc"), 10582, 8)["total"] == 10576        # sbnet.md 6.2
    drs = planned_steps(_cfg("drs_cls_voc"), 10582, 10)                             # no drop_last
    assert drs["per_epoch"] == math.ceil(10582 / 10) and drs["total"] == 15 * 1059
    v2 = planned_steps(_cfg("drs_deeplabv2_voc"), 10582, 10)
    assert v2["total"] == 10000

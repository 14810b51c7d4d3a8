"""The recipe table: coverage of the registry, consistency, upstream numbers from the method sheets."""
import subprocess
import sys

import pytest

from wsss_zoo.errors import UnknownNameError

from training import run
from training.inits import MAPPERS
from training.recipes import QUIRKS, RECIPES, get_recipe
from training.tasks import TASKS
from wsss_zoo import registry


def test_every_registry_train_recipe_exists():
    reg = registry.document()
    named = {e["train_recipe"] for e in reg["models"].values() if e.get("train_recipe")}
    for p in reg["pipelines"].values():
        named |= set(p.get("train_recipes", {}).values())
    assert named - set(RECIPES) == set()
    for name, e in reg["models"].items():  # the recipe a model names trains that model
        if e.get("train_recipe"):
            assert RECIPES[e["train_recipe"]].load_as == name


def test_recipes_are_consistent():
    for r in RECIPES.values():
        assert r.kind in TASKS, r.name
        assert registry.is_model(r.load_as), r.name
        assert set(r.init) <= set(MAPPERS), r.name
        assert set(r.quirks) <= set(QUIRKS), r.name
        assert r.upstream.command and r.upstream.gpus, r.name
        if r.optim.name == "poly_sgd" and r.stage != "prep":
            assert "polyoptimizer_momentum" in r.quirks, r.name
        names = [s.name for s in r.inputs]
        assert len(names) == len(set(names)), r.name


@pytest.mark.parametrize("name, batch, accumulate, length, lr, wd", [
    ("drs_cls_voc", 10, 1, 15, 1e-3, 5e-4),          # drs.md 7.2
    ("drs_refine_voc", 10, 1, 30, 1e-4, 0.0),        # drs.md 7.3
    ("drs_deeplabv2_voc", 10, 2, 10000, 2.5e-4, 5e-4),   # drs.md 7.4 (voc12_2gpu.yaml)
    ("drs_deeplabv3plus_voc", 32, 1, 20000, 0.05, 1e-4),  # drs.md 7.5
    ("sbnet_deeplabv2_voc", 5, 2, 20000, 2.5e-4, 5e-4),   # sbnet.md 9 (kazuto voc12.yaml)
    ("eps_voc", 8, 1, 20000, 0.01, 5e-4),            # eps.md 6.5
    ("eps_coco", 16, 1, 256500, 0.01, 5e-4),
    ("cda_irn_baseline_cam_voc", 16, 1, 5, 0.1, 1e-4),   # foundations 6.2
    ("cda_irn_edge_voc", 32, 1, 3, 0.1, 1e-4),       # foundations 6.3
    ("sbnet_sb_voc", 8, 1, 100, 0.01, 5e-4),         # sbnet.md 7
    ("cda_psa_aff_voc", 8, 1, 8, 0.1, 5e-4),         # foundations 4.4 (PSA lr 0.1)
    ("cda_seam_aff_voc", 8, 1, 8, 0.01, 5e-4),       # SEAM train_aff default lr 0.01
])
def test_upstream_hyper_parameters(name, batch, accumulate, length, lr, wd):
    r = get_recipe(name)
    assert (r.batch_size, r.accumulate, r.optim.lr, r.optim.weight_decay) == (batch, accumulate, lr, wd)
    assert (r.iterations or r.epochs) == length


def test_data_settings_from_the_sheets():
    assert get_recipe("eps_coco").data["crop"] == 321 and get_recipe("eps_coco").loss == {"tau": 0.4, "lam": 0.9}
    assert get_recipe("eps_voc").loss == {"tau": 0.4, "lam": 0.5}
    assert get_recipe("cda_irn_cam_voc").data["resize_long"] == (320, 640)
    assert get_recipe("drs_deeplabv2_voc").loss["drs_extra"] and not get_recipe("sbnet_deeplabv2_voc").loss["drs_extra"]
    rib = get_recipe("rib_ir_labels_voc").data
    assert (rib["conf_fg"], rib["conf_bg"]) == (0.35, 0.17)
    assert get_recipe("cda_seam_crf_labels_voc").data["alphas"] == (4, 24)
    assert get_recipe("cda_psa_crf_labels_voc").data["alphas"] == (4, 32)
    assert get_recipe("drs_deeplabv3plus_voc").amp and get_recipe("drs_deeplabv3plus_voc").seed == 2


def test_readme_table_is_up_to_date():
    text = run.README.read_text(encoding="utf-8")
    assert run.readme_with_table(text) == text, "training/README.md is stale: python training/run.py --write-readme"


def test_list_runs_as_a_script():
    out = subprocess.run([sys.executable, str(run.README.parent / "run.py"), "--list"], capture_output=True,
                         text=True, check=True).stdout
    assert all(name in out for name in RECIPES)


def test_unknown_recipe_suggests_close_names():
    with pytest.raises(UnknownNameError, match="eps_voc"):
        get_recipe("eps_vco")

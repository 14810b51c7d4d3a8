"""checkpoints.json: schema, completeness against the API contract, provenance rules, lookups.

Expected values here come from the method fact sheets and upstream READMEs (shared/spec), not from the
code under test.
"""
import importlib.util
import re
from pathlib import Path

import pytest

import wsss_zoo
from wsss_zoo import registry
from wsss_zoo.errors import UnknownNameError, WsssZooError

ROOT = Path(__file__).resolve().parents[2]
API_SPEC = ROOT.parent / "shared" / "spec" / "api.md"

# the names fixed by shared/spec/api.md
MODEL_NAMES = {
    "drs_vgg16_voc", "drs_refine_vgg16_voc", "drs_deeplabv2_resnet101_voc", "drs_deeplabv3plus_resnet101_voc",
    "cda_irn_resnet50_voc", "cda_irn_edge_resnet50_voc", "cda_seam_resnet38_voc", "cda_seam_aff_resnet38_voc",
    "cda_psa_resnet38_voc", "cda_psa_aff_resnet38_voc",
    "eps_resnet38_voc", "eps_base_resnet38_voc", "eps_resnet38_coco", "eps_base_resnet38_coco",
    "sbnet_resnet38_voc", "sbnet_aff_resnet38_voc", "sbnet_deeplabv2_resnet101_voc",
    "rib_resnet50_voc", "rib_resnet50_coco", "resnet38_imagenet",
}
TRAINING_ONLY_MODELS = {"deeplabv1_resnet101_coco",  # beyond the contract: the DeepLab COCO init
                        "vgg16_imagenet", "resnet50_imagenet", "resnet101_imagenet"}  # torchvision training inits
PIPELINE_NAMES = {
    "drs_voc", "cda_irn_voc", "cda_seam_voc", "cda_psa_voc", "eps_voc", "eps_base_voc", "eps_coco",
    "eps_base_coco", "sbnet_voc", "rib_voc", "rib_coco",
}

METHODS = {"DRS", "CDA", "EPS", "SBNet", "RIB"}
TASKS = {"cam", "refine", "affinity", "irn", "segmentation", "init"}
DATASETS = {"voc": "voc12", "coco": "coco14", "imagenet": "imagenet"}
SPLITS = {"train", "train_aug", "val", "test"}
STAGES = {"cam", "pseudo_mask", "segmentation"}
STAGE_OF_TASK = {"cam": {"cam"}, "segmentation": {"segmentation"}, "affinity": {"pseudo_mask"},
                 "irn": {"pseudo_mask"}, "refine": {"pseudo_mask"}, "init": set()}
SOURCE_KINDS = {"github_release", "url", "gdrive"}
CRF_PRESETS = {"psa", "irn", "deeplab"}

MODEL_FIELDS = {
    "description": str, "method": str, "task": str, "dataset": str, "role": str, "upstream_class": str,
    "architecture": dict, "layout": str, "filename": str, "sources": list, "upstream_layout": str,
    "preprocess": dict, "inference": dict, "metrics": list, "license": dict, "paper": dict, "citation": str,
    "code": dict,
}
PIPELINE_FIELDS = {
    "description": str, "method": str, "dataset": str, "recipe": str, "roles": dict,
    "user_weights_required": list, "needs_saliency": bool, "settings": dict, "metrics": list,
    "train_recipes": dict,
}


@pytest.fixture(scope="module")
def reg():
    return registry.document()


def _models(reg):
    return reg["models"].items()


def _pipelines(reg):
    return reg["pipelines"].items()


# ------------------------------------------------------------------------------------------ schema
def _type_problems(name, entry, fields):
    return [f"{name}.{field}: expected {typ.__name__}, got {type(entry.get(field)).__name__}"
            for field, typ in fields.items() if not isinstance(entry.get(field), typ)]


def test_model_entries_have_required_fields_and_types(reg):
    problems = []
    for name, e in _models(reg):
        problems += _type_problems(name, e, MODEL_FIELDS)
        if e.get("task") not in TASKS:
            problems.append(f"{name}.task {e.get('task')!r}")
        if e.get("dataset") not in DATASETS:
            problems.append(f"{name}.dataset {e.get('dataset')!r}")
        if e.get("role") not in {"final", "init"} or (e.get("role") == "init") != (e.get("task") == "init"):
            problems.append(f"{name}.role {e.get('role')!r} with task {e.get('task')!r}")
        if e.get("method") not in METHODS | {"init"}:
            problems.append(f"{name}.method {e.get('method')!r}")
        arch = e.get("architecture", {})
        if not isinstance(arch.get("builder"), str) or not isinstance(arch.get("kwargs"), dict):
            problems.append(f"{name}.architecture needs builder (str) and kwargs (dict)")
        for key in ("sha256", "size"):
            if key not in e:
                problems.append(f"{name}.{key} missing (null when unknown)")
        sha = e.get("sha256")
        if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", sha):
            problems.append(f"{name}.sha256 {sha!r} is not 64 lowercase hex digits")
        if e.get("size") is not None and not (isinstance(e["size"], int) and e["size"] > 0):
            problems.append(f"{name}.size {e['size']!r}")
        if "train_recipe" not in e or not (e["train_recipe"] is None or re.fullmatch(r"[a-z0-9_]+", e["train_recipe"])):
            problems.append(f"{name}.train_recipe must be snake_case or null")
        if not e.get("description", "").strip() or "\n" in e.get("description", ""):
            problems.append(f"{name}.description must be one non-empty line")
    assert not problems, "\n".join(problems)


def test_pipeline_entries_have_required_fields_and_types(reg):
    problems = []
    for name, e in _pipelines(reg):
        problems += _type_problems(name, e, PIPELINE_FIELDS)
        if e.get("method") not in METHODS:
            problems.append(f"{name}.method {e.get('method')!r}")
        if "crf" not in e:
            problems.append(f"{name}.crf missing (null when the method publishes none)")
        crf = e.get("crf")
        if crf is not None and (crf.get("preset") not in CRF_PRESETS or not crf.get("where")):
            problems.append(f"{name}.crf {crf!r}: needs preset in {sorted(CRF_PRESETS)} and 'where'")
        if not set(e.get("user_weights_required", [])) <= set(e.get("roles", {})):
            problems.append(f"{name}.user_weights_required names unknown roles")
        if not set(e.get("train_recipes", {})) <= set(e.get("roles", {})):
            problems.append(f"{name}.train_recipes names unknown roles")
        if not e.get("metrics") and not e.get("notes"):
            problems.append(f"{name}: no reported metrics and no notes saying why")
    assert not problems, "\n".join(problems)


def test_crf_presets_exist_in_the_crf_module(reg):
    from wsss_zoo.crf import PRESETS

    used = {e["crf"]["preset"] for _, e in _pipelines(reg) if e.get("crf")}
    assert used <= set(PRESETS)
    assert reg["pipelines"]["eps_voc"]["crf"]["preset"] == "deeplab"  # eps.md section 3.2
    assert reg["pipelines"]["cda_irn_voc"]["crf"] is None


def test_pipeline_roles_name_existing_models_of_the_same_method_family(reg):
    problems = []
    for name, e in _pipelines(reg):
        for role, model in e["roles"].items():
            if model not in reg["models"]:
                problems.append(f"{name}.roles.{role} -> unknown model {model!r}")
            elif role not in e.get("user_weights_required", []) and reg["models"][model]["dataset"] != e["dataset"]:
                problems.append(f"{name}.roles.{role} -> {model} is trained on another dataset")
    assert not problems, "\n".join(problems)


def test_every_architecture_builder_is_registered(reg):
    from wsss_zoo.models import list_architectures

    available = set(list_architectures())
    missing = sorted({f"{e['architecture']['builder']} (used by {name})" for name, e in _models(reg)
                      if e["architecture"]["builder"] not in available})
    assert not missing, "builders not registered with @register_model: " + ", ".join(missing)


# ------------------------------------------------------------------------------------------ completeness
def test_names_match_the_api_contract(reg):
    assert set(reg["models"]) == MODEL_NAMES | TRAINING_ONLY_MODELS
    assert set(reg["pipelines"]) == PIPELINE_NAMES
    assert not set(reg["models"]) & set(reg["pipelines"]), "a name is both a model and a pipeline"


def _api_names(text):
    names = text.split("## Names", 1)[1].split("## Functions", 1)[0]
    models, pipelines = set(), set()
    for line in names.splitlines():
        if line.startswith("| `"):
            models.update(re.findall(r"`([a-z0-9_]+)`", line.split("|")[1]))
    para = names.split("Pipelines", 1)[1].split("\n\n", 1)[0]
    para = para.split("):", 1)[-1]  # after "(what `pseudo_mask` runs; roles in brackets):"
    pipelines.update(re.findall(r"`([a-z0-9_]+)`", para))
    return models, pipelines


@pytest.mark.skipif(not API_SPEC.is_file(), reason="shared/spec/api.md is not next to this checkout")
def test_names_match_the_spec_file():
    models, pipelines = _api_names(API_SPEC.read_text(encoding="utf-8"))
    assert models == MODEL_NAMES
    assert pipelines == PIPELINE_NAMES


# ------------------------------------------------------------------------------------------ metrics
def _metric_problems(where, rec, dataset):
    out = []
    if rec.get("dataset") != DATASETS.get(dataset):
        out.append(f"dataset {rec.get('dataset')!r} (entry dataset {dataset!r})")
    if rec.get("split") not in SPLITS:
        out.append(f"split {rec.get('split')!r}")
    if not (isinstance(rec.get("n_images"), int) and rec["n_images"] > 0):
        out.append(f"n_images {rec.get('n_images')!r}")
    if rec.get("stage") not in STAGES:
        out.append(f"stage {rec.get('stage')!r}")
    if rec.get("crf") not in (True, False, None):
        out.append(f"crf {rec.get('crf')!r}")
    if not (isinstance(rec.get("miou"), float) and 0 < rec["miou"] < 100):
        out.append(f"miou {rec.get('miou')!r}")
    for key in ("source", "protocol"):
        if not (isinstance(rec.get(key), str) and rec[key].strip()):
            out.append(f"{key} missing")
    known = {("voc12", "train"): 1464, ("voc12", "val"): 1449, ("voc12", "test"): 1456}
    if (rec.get("dataset"), rec.get("split")) in known and rec.get("n_images") != known[rec["dataset"], rec["split"]]:
        out.append(f"n_images {rec.get('n_images')} for {rec['dataset']} {rec['split']}")
    return [f"{where}: {p}" for p in out]


def test_metric_records_are_well_formed(reg):
    problems = []
    for name, e in _models(reg):
        for rec in e["metrics"]:
            problems += _metric_problems(name, rec, e["dataset"])
            if rec.get("stage") not in STAGE_OF_TASK[e["task"]]:
                problems.append(f"{name}: stage {rec.get('stage')!r} on a {e['task']} model")
            if "pipeline" in rec and name not in reg["pipelines"].get(rec["pipeline"], {}).get("roles", {}).values():
                problems.append(f"{name}: metric names pipeline {rec['pipeline']!r} that does not use it")
    for name, e in _pipelines(reg):
        for rec in e["metrics"]:
            problems += _metric_problems(name, rec, e["dataset"])
            if rec.get("stage") != "pseudo_mask":
                problems.append(f"{name}: pipeline metrics are pseudo masks")
    assert not problems, "\n".join(problems)


def _find(metrics, **match):
    return [m["miou"] for m in metrics if all(m.get(k) == v for k, v in match.items())]


def test_reported_numbers_from_the_fact_sheets(reg):
    models, pipes = reg["models"], reg["pipelines"]
    # cda.md section 3
    assert _find(models["cda_irn_resnet50_voc"]["metrics"], stage="cam", split="train") == [50.8]
    assert _find(models["cda_seam_resnet38_voc"]["metrics"], stage="cam") == [58.4]
    assert _find(models["cda_psa_resnet38_voc"]["metrics"], stage="cam") == [48.9]
    assert _find(pipes["cda_irn_voc"]["metrics"], split="train") == [67.7]
    assert _find(pipes["cda_seam_voc"]["metrics"], split="train") == [66.4]
    assert _find(pipes["cda_psa_voc"]["metrics"], split="train") == [63.3]
    # drs.md section 3
    assert _find(models["drs_deeplabv2_resnet101_voc"]["metrics"], split="val", crf=False) == [69.4]
    assert _find(models["drs_deeplabv2_resnet101_voc"]["metrics"], split="val", crf=True) == [70.4]
    assert _find(models["drs_deeplabv3plus_resnet101_voc"]["metrics"], split="val", crf=False) == [70.4]
    assert _find(models["drs_deeplabv3plus_resnet101_voc"]["metrics"], split="val", crf=True) == [71.0]
    # eps.md section 3.1: pseudo masks belong to the pipelines
    for pipe, miou in (("eps_voc", 69.22), ("eps_base_voc", 47.05), ("eps_coco", 37.15), ("eps_base_coco", 31.23)):
        assert _find(pipes[pipe]["metrics"], split="train", crf=False) == [miou], pipe
    for name in ("eps_resnet38_voc", "eps_base_resnet38_voc", "eps_resnet38_coco", "eps_base_resnet38_coco"):
        assert models[name]["metrics"] == [], name
    # sbnet.md section 3
    assert _find(models["sbnet_resnet38_voc"]["metrics"], split="train") == [57.3]
    assert _find(models["sbnet_resnet38_voc"]["metrics"], split="val") == [55.2]
    assert _find(pipes["sbnet_voc"]["metrics"], split="train") == [65.3]
    assert _find(pipes["sbnet_voc"]["metrics"], split="val") == [63.0]
    assert _find(models["sbnet_deeplabv2_resnet101_voc"]["metrics"], split="test") == [66.7]
    # rib.md section 3 and drs.md: the repositories report none
    assert pipes["rib_voc"]["metrics"] == pipes["rib_coco"]["metrics"] == pipes["drs_voc"]["metrics"] == []
    assert "0.15" in models["cda_irn_resnet50_voc"]["metrics"][0]["protocol"]


# ------------------------------------------------------------------------------------------ provenance
def test_license_rules(reg):
    for name, e in _models(reg):
        lic = e["license"]
        assert set(lic) >= {"spdx", "redistributable", "source", "notes"}, name
        assert isinstance(lic["redistributable"], bool) and lic["source"].strip(), name
        if e["method"] in ("EPS", "RIB"):  # no LICENSE file in halbielee/EPS or jbeomlee93/RIB
            assert lic["spdx"] is None and lic["redistributable"] is False, name
        elif e["method"] in ("DRS", "CDA", "SBNet"):
            assert lic["spdx"] == "MIT" and lic["redistributable"] is True, name
        if not lic["redistributable"]:
            assert lic["notes"].strip(), f"{name}: say why it may not be re-hosted"
    assert reg["models"]["resnet38_imagenet"]["license"]["spdx"] == "Apache-2.0"  # itijyou/ademxapp LICENSE


def test_sources(reg):
    problems = []
    for name, e in _models(reg):
        current = [s for s in e["sources"] if not s.get("superseded") and not s.get("manual")]
        if not current:
            problems.append(f"{name}: no current downloadable source")
        for s in e["sources"]:
            kind = s.get("kind")
            if kind not in SOURCE_KINDS:
                problems.append(f"{name}: source kind {kind!r}")
            elif kind == "gdrive":
                if not re.fullmatch(r"[A-Za-z0-9_-]{20,}", s.get("id") or ""):
                    problems.append(f"{name}: gdrive source without a file id: {s}")
                elif s.get("url") != f"https://drive.google.com/file/d/{s['id']}/view":
                    problems.append(f"{name}: gdrive url does not match its id: {s}")
            elif not str(s.get("url", "")).startswith(("https://", "http://")):
                problems.append(f"{name}: source without an URL: {s}")
            if kind == "github_release":
                if "/releases/download/" not in s["url"] or s["url"].rsplit("/", 1)[1] != e["filename"]:
                    problems.append(f"{name}: release asset name should be the cache filename: {s['url']}")
        flags = [i for i, s in enumerate(e["sources"]) if s.get("superseded")]
        if flags and any(not s.get("superseded") for s in e["sources"][flags[0]:]):
            problems.append(f"{name}: superseded sources must come after the current ones")
    assert not problems, "\n".join(problems)
    drs = reg["models"]["drs_vgg16_voc"]["sources"][0]
    assert drs == {"kind": "github_release",
                   "url": "https://github.com/qjadud1994/DRS/releases/download/asset/DRS_learnable.pth"}
    assert reg["models"]["eps_resnet38_voc"]["sources"][0]["id"] == "1f3iVGRt2nH8BMxEP-w6VoJANouoHNLYM"
    assert reg["models"]["deeplabv1_resnet101_coco"]["sources"][0]["url"].endswith("/asset/deeplabv1_resnet101-coco.pth")


def test_papers_citations_and_code(reg):
    problems = []
    methods = reg["methods"]
    assert set(methods) == METHODS
    for name, e in _models(reg):
        paper, cite, code = e["paper"], e["citation"], e["code"]
        if not {"title", "authors", "venue", "year", "url"} <= set(paper):
            problems.append(f"{name}.paper incomplete")
        elif paper["title"].lower().replace("-", " ") not in " ".join(cite.lower().replace("-", " ").split()):
            problems.append(f"{name}: citation does not carry the paper title")
        if not cite.lstrip().startswith("@") or cite.count("{") != cite.count("}"):
            problems.append(f"{name}: citation is not a BibTeX entry")
        if e["method"] in methods and cite != methods[e["method"]]["citation"]:
            problems.append(f"{name}: citation differs from methods.{e['method']}")
        if not (re.fullmatch(r"[\w.-]+/[\w.-]+", code.get("repo", "")) and re.fullmatch(r"[0-9a-f]{40}", code.get("commit", ""))
                and code.get("path")):
            problems.append(f"{name}.code needs repo owner/name, a 40-hex commit and a path")
    assert not problems, "\n".join(problems)
    assert "Wider or Deeper" in reg["models"]["resnet38_imagenet"]["citation"]
    assert "DeepLab" in reg["models"]["deeplabv1_resnet101_coco"]["citation"]


# ------------------------------------------------------------------------------------------ lookups
def test_list_models_filters():
    assert wsss_zoo.list_models(method="EPS") == sorted(
        ["eps_resnet38_voc", "eps_base_resnet38_voc", "eps_resnet38_coco", "eps_base_resnet38_coco"])
    assert wsss_zoo.list_models(method="eps") == wsss_zoo.list_models(method="EPS")
    assert wsss_zoo.list_models(task="cam", dataset="coco") == [
        "eps_base_resnet38_coco", "eps_resnet38_coco", "rib_resnet50_coco"]
    assert wsss_zoo.list_models(task="segmentation") == [
        "drs_deeplabv2_resnet101_voc", "drs_deeplabv3plus_resnet101_voc", "sbnet_deeplabv2_resnet101_voc"]
    assert wsss_zoo.list_models(task="init") == ["deeplabv1_resnet101_coco", "resnet101_imagenet", "resnet38_imagenet",
                                                 "resnet50_imagenet", "vgg16_imagenet"]
    assert wsss_zoo.list_models(method="nope") == []
    assert set(wsss_zoo.list_models()) == MODEL_NAMES | TRAINING_ONLY_MODELS
    assert set(wsss_zoo.list_pipelines()) == PIPELINE_NAMES


def test_model_info_is_self_contained():
    info = wsss_zoo.model_info("cda_irn_resnet50_voc")
    assert info["name"] == "cda_irn_resnet50_voc"
    assert info["license"]["spdx"] == "MIT" and "Context Decoupling" in info["citation"]
    assert info["sources"][0]["id"] == "1pnax7NkCMLEGD4QM7eH6YMcQES2uskJV"
    info["metrics"].clear()  # a copy: the registry is unchanged
    assert wsss_zoo.model_info("cda_irn_resnet50_voc")["metrics"]
    pipe = wsss_zoo.model_info("rib_voc")
    assert pipe["roles"]["cam"] == "rib_resnet50_voc" and pipe["user_weights_required"] == ["irn"]


def test_unknown_names_raise_with_close_matches():
    with pytest.raises(UnknownNameError, match="eps_resnet38_voc") as info:
        wsss_zoo.model_info("eps_resnet38_vco")
    assert isinstance(info.value, WsssZooError)
    with pytest.raises(UnknownNameError, match="eps_voc"):
        registry.pipeline_entry("eps_vco")
    with pytest.raises(UnknownNameError, match="list_models"):
        wsss_zoo.model_info("zzzzzz")


def test_model_cards_render_every_entry():
    from wsss_zoo.model_card import model_card

    card = model_card("drs_deeplabv2_resnet101_voc")
    assert "70.4 VOC12 val (1449), segmentation +CRF" in card and "@inproceedings{kim2021discriminative" in card
    assert "not redistributable" in model_card("eps_voc")
    for name in wsss_zoo.list_models() + wsss_zoo.list_pipelines():
        assert model_card(name).strip()


# ------------------------------------------------------------------------------------------ README table
def _model_table_module():
    spec = importlib.util.spec_from_file_location("wsss_zoo_model_table", ROOT / "scripts" / "model_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_model_table_is_up_to_date():
    table = _model_table_module()
    assert table.check(), "README.md is stale: run python scripts/model_table.py --write"


def test_model_table_block_replacement(tmp_path, reg):
    table = _model_table_module()
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\nintro\n", encoding="utf-8")
    assert not table.check(readme, reg)
    readme.write_text(table.expected_readme(readme, reg), encoding="utf-8")
    assert table.check(readme, reg)
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# title\n\nintro\n") and text.count(table.START) == 1
    assert "| `eps_voc` | EPS | voc |" in text and "69.22 VOC12 train (1464), pseudo mask" in text
    readme.write_text(text.replace("69.22", "69.00"), encoding="utf-8")
    assert not table.check(readme, reg)

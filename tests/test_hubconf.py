"""hubconf.py through torch.hub's own loader (source="local"): listing, help, loading, errors."""
import inspect
from pathlib import Path

import pytest
import torch

import wsss_zoo
from wsss_zoo import registry
from wsss_zoo.models import list_architectures
from wsss_zoo.errors import WsssZooError

ROOT = str(Path(__file__).resolve().parent.parent)
# small networks first, so the random-init load stays cheap
PREFERRED = ["cda_irn_resnet50_voc", "rib_resnet50_voc", "drs_vgg16_voc", "eps_base_resnet38_voc"]


@pytest.fixture
def hub_repo(monkeypatch):
    """A repo argument for torch.hub.list/help that resolves to this checkout.

    Older torch versions accept ``source="local"``; torch 2.x list/help only take GitHub repos, so
    the GitHub download step is replaced by this directory and the rest of torch.hub runs unchanged.
    """
    if "source" in inspect.signature(torch.hub.list).parameters:
        return {"github": ROOT, "source": "local"}
    monkeypatch.setattr(torch.hub, "_get_cache_or_reload", lambda *args, **kwargs: ROOT)
    return {"github": "local/wsss_zoo"}


def test_hub_lists_every_model_and_pipeline(hub_repo):
    names = torch.hub.list(**hub_repo)
    assert sorted(names) == sorted(wsss_zoo.list_models() + wsss_zoo.list_pipelines())


def test_hub_help_is_the_model_card(hub_repo):
    doc = torch.hub.help(model="cda_irn_resnet50_voc", **hub_repo)
    assert doc.startswith(registry.model_entry("cda_irn_resnet50_voc").description)
    assert "50.8 VOC12 train (1464), CAM" in doc
    assert "License: MIT" in doc and "@InProceedings{CDA_2021_ICCV" in doc
    assert "pretrained=True" in doc
    doc = torch.hub.help(model="eps_voc", **hub_repo)
    assert "69.22 VOC12 train (1464), pseudo mask" in doc and "not redistributable" in doc
    assert "Railroad Is Not a Train" in doc


def test_hub_declares_import_names_only():
    text = (Path(ROOT) / "hubconf.py").read_text(encoding="utf-8")
    assert 'dependencies = ["torch", "torchvision", "numpy", "PIL", "safetensors", "requests", "gdown"]' in text
    imports = [line.split()[1] for line in text.splitlines() if line.startswith(("import ", "from "))]
    assert imports and all(name == "wsss_zoo" or name.startswith("wsss_zoo.") for name in imports), imports


def test_hub_load_random_init_network_in_eval_mode():
    available = set(list_architectures())
    candidates = [n for n in PREFERRED + wsss_zoo.list_models()
                  if registry.model_entry(n).builder in available]
    if not candidates:
        pytest.skip("no network builder is registered yet")
    name = candidates[0]
    model = torch.hub.load(ROOT, name, source="local", pretrained=False)
    assert isinstance(model, torch.nn.Module) and not model.training
    assert model.wsss_zoo_entry.name == name


def test_hub_load_missing_weights_file_raises(tmp_path):
    with pytest.raises(WsssZooError, match="missing.pth"):
        torch.hub.load(ROOT, "eps_resnet38_voc", source="local", weights=str(tmp_path / "missing.pth"))


def test_hub_load_rejects_architecture_overrides_with_pretrained_weights():
    with pytest.raises(WsssZooError, match="pretrained=False"):
        torch.hub.load(ROOT, "eps_resnet38_voc", source="local", num_classes=5)


def test_hub_pipeline_entry_point_forwards_to_load_pipeline():
    # the test session is offline with an empty cache: the pipeline asks for its cam network by name
    with pytest.raises(WsssZooError, match="eps_resnet38_voc"):
        torch.hub.load(ROOT, "eps_voc", source="local")

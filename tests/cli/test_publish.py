"""``publish``: the license gate, the authors'-file gate (issue 13), --retrained, and model cards that the
Hub reads (expected licenses: the method repositories' LICENSE files; numbers: the methods' READMEs)."""
import json
import os

import pytest
import torch
import yaml
from huggingface_hub import ModelCard

from fixtures import hub_models
from fixtures.http_server import Blob, clean_download_env, online, server  # noqa: F401  (fixtures)
from wsss_zoo import cache, hub, model_card, publish
from wsss_zoo.errors import ChecksumMismatchError, NotRedistributableError
from wsss_zoo.registry import add_entries, clear_entries, model_entry, models

NAME = "hubtest_cam_voc"


@pytest.mark.parametrize("name", ["eps_resnet38_voc", "eps_base_resnet38_coco", "rib_resnet50_voc",
                                  "rib_resnet50_coco"])
def test_methods_without_a_license_are_refused(name, tmp_path):
    with pytest.raises(NotRedistributableError, match="published no license"):
        publish.publish(name, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["drs_vgg16_voc", "cda_irn_resnet50_voc", "sbnet_resnet38_voc"])
def test_mit_methods_may_be_published(name):
    assert publish.check_redistributable(model_entry(name).to_dict())["spdx"] == "MIT"


# --------------------------------------------------------------------------- cards the Hub reads
def _card(name, retrained=False):
    return model_card.hub_card(model_entry(name).to_dict(), source_sha256="0" * 64, provenance="test",
                               retrained=retrained)


@pytest.mark.parametrize("name", [e.name for e in models() if e.license.redistributable])
def test_card_metadata_is_valid_for_huggingface_hub(name):
    card = ModelCard(_card(name))  # raises on metadata the Hub would reject
    data = card.data
    assert data.license == _registry(name)["license"]["spdx"].lower() and data.library_name == "wsss_zoo"
    assert data.pipeline_tag == "image-segmentation" and "wsss_zoo" in data.tags and data.datasets
    assert sorted(r.metric_value for r in data.eval_results or []) == _reported(name)


def _registry(name=None):
    from cli_support import ROOT

    reg = json.loads((ROOT / "checkpoints.json").read_text())
    return reg if name is None else reg["models"][name]


def _reported(name):
    """The mIoUs checkpoints.json holds for a network: its own and those of the pipelines it is a role of."""
    reg = _registry()
    rows = list(reg["models"][name].get("metrics") or [])
    rows += [m for p in reg["pipelines"].values() if name in p["roles"].values() for m in p.get("metrics") or []]
    return sorted(m["miou"] for m in rows)


def test_card_of_drs_deeplab_carries_its_readme_numbers():
    data = ModelCard(_card("drs_deeplabv2_resnet101_voc")).data
    assert sorted(r.metric_value for r in data.eval_results) == [69.4, 70.4]  # DRS README: val without / with CRF
    assert all(r.dataset_type == "pascal_voc" and r.dataset_split == "val" for r in data.eval_results)
    text = _card("drs_deeplabv2_resnet101_voc")
    assert "Kim, Beomyoung" in text and 'wsss_zoo.segment(model, "image.jpg")' in text
    assert 'wsss_zoo.load("hf-hub:<user>/drs_deeplabv2_resnet101_voc")' in text


def test_card_of_a_network_carries_its_pipeline_numbers():
    card = model_card.hub_card(model_entry("eps_resnet38_voc").to_dict(), source_sha256="0" * 64, provenance="x")
    data = ModelCard(card).data
    assert data.license is None  # none published
    assert [r.metric_value for r in data.eval_results] == [69.22]
    assert "eps_voc" in data.eval_results[0].metric_name and "Do not re-host" in card


def test_retrained_card_says_so_and_carries_no_numbers():
    text = _card("drs_deeplabv2_resnet101_voc", retrained=True)
    data = ModelCard(text).data
    assert data.eval_results is None and "retrained" in data.tags
    assert "**retrained**" in text and "not the authors' published weights" in text
    assert "69.4" not in text and "70.4" not in text and "Reported results" not in text
    assert "nothing was retrained" not in text


# --------------------------------------------------------------------------- the authors' file only
@pytest.fixture
def tiny(server, online, clean_download_env):  # noqa: F811
    """The tiny network, published from http://127.0.0.1/files/hubtest.pth."""
    upstream = hub_models.write_upstream(cache.cache_dir() / "upstream.pth", seed=7)
    server.route("/files/hubtest.pth", Blob(upstream.read_bytes()))
    add_entries(hub_models.overlay({NAME: hub_models.entry(server.url("/files/hubtest.pth"), metrics=[
        {"dataset": "voc12", "split": "train", "stage": "cam", "miou": 41.5, "crf": False, "source": "test"}])}))
    yield model_entry(NAME), upstream
    clear_entries()


def test_publish_from_the_recorded_download(tiny, tmp_path):
    entry, upstream = tiny
    path = hub.download(entry, progress=False)
    summary = publish.publish(NAME, tmp_path / "out", progress=False)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert summary["source_sha256"] == cache.sha256_file(path) and not summary["retrained"]
    card = ModelCard((out / "README.md").read_text())
    assert [r.metric_value for r in card.data.eval_results] == [41.5]
    assert f"equals the one recorded when it was downloaded from {entry.sources[0].url}" in card.text
    config = json.loads((out / "config.json").read_text())
    assert config["format"] == hub.CONFIG_FORMAT and config["entry"]["layout"] == "canonical"
    assert config["source"]["sha256"] == summary["source_sha256"]
    # the same file given by path is the authors' file too
    publish.publish(NAME, tmp_path / "again", weights=upstream, progress=False)


def test_any_other_file_is_refused(tiny, tmp_path):
    entry, upstream = tiny
    mine = hub_models.write_upstream(tmp_path / "random.pth", seed=99)
    with pytest.raises(ChecksumMismatchError, match="nothing is known to show") as err:
        publish.publish(NAME, tmp_path / "out", weights=mine)  # no record yet
    assert "--retrained" in str(err.value) and f"wsss-zoo download {NAME}" in str(err.value)
    hub.download(entry, progress=False)
    with pytest.raises(ChecksumMismatchError, match=r"has sha256 \w+, not the one recorded when it was downloaded"):
        publish.publish(NAME, tmp_path / "out", weights=mine)
    assert not (tmp_path / "out").exists()


def test_a_file_placed_by_hand_is_not_the_published_one(tiny, tmp_path):
    entry, upstream = tiny
    target = cache.cached_file_path(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(upstream.read_bytes())
    assert hub.resolve_file(entry) == target  # recorded as placed by hand
    with pytest.raises(ChecksumMismatchError, match="no record of a download from its published source") as err:
        publish.publish(NAME, tmp_path / "out")
    assert f"delete {target}, then run wsss-zoo download {NAME}" in str(err.value)


def test_retrained_weights_are_published_as_such(tiny, tmp_path):
    mine = hub_models.write_upstream(tmp_path / "mine.pth", seed=99)
    publish.publish(NAME, tmp_path / "out", weights=mine, retrained=True, progress=False)
    card = ModelCard((tmp_path / "out" / "README.md").read_text())
    assert card.data.eval_results is None and "41.5" not in card.text and "**retrained**" in card.text
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["retrained"] is True and config["entry"]["metrics"] == []


def test_publish_outputs_replace_planted_symlinks(tiny, tmp_path):
    """config.json, README.md and model.safetensors are written next to the target and renamed over it."""
    hub.download(tiny[0], progress=False)
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    for name in ("config.json", "README.md", "model.safetensors"):
        os.symlink(victim, out / name)
    publish.publish(NAME, out, overwrite=True, progress=False)
    assert victim.read_bytes() == b"precious"
    for name in ("config.json", "README.md", "model.safetensors"):
        assert (out / name).is_file() and not (out / name).is_symlink()
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    sd = torch.load(tiny[1])["model"]
    from safetensors.torch import load_file

    assert torch.equal(load_file(str(out / "model.safetensors"))["conv.weight"], sd["net.head.weight"])


def test_front_matter_is_plain_yaml_too():
    front = yaml.safe_load(_card("cda_irn_resnet50_voc").split("---")[1])
    assert front["license"] == "mit" and front["library_name"] == "wsss_zoo"
    assert {m["value"] for r in front["model-index"][0]["results"] for m in r["metrics"]} >= {50.8, 67.7}

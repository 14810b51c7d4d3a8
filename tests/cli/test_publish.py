"""Model cards and the license gate of ``publish`` (expected licenses: the method repositories' LICENSE files)."""
import pytest
import yaml

from wsss_zoo import publish
from wsss_zoo.errors import NotRedistributableError
from wsss_zoo.registry import model_entry


@pytest.mark.parametrize("name", ["eps_resnet38_voc", "eps_base_resnet38_coco", "rib_resnet50_voc",
                                  "rib_resnet50_coco"])
def test_methods_without_a_license_are_refused(name, tmp_path):
    with pytest.raises(NotRedistributableError, match="published no license"):
        publish.publish(name, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["drs_vgg16_voc", "cda_irn_resnet50_voc", "sbnet_resnet38_voc"])
def test_mit_methods_may_be_published(name):
    assert publish.check_redistributable(model_entry(name).to_dict())["spdx"] == "MIT"


def test_card_front_matter_is_valid_yaml_with_metrics():
    card = publish.model_card(model_entry("drs_deeplabv2_resnet101_voc").to_dict(), "0" * 64)
    front = yaml.safe_load(card.split("---")[1])
    assert front["license"] == "mit" and front["pipeline_tag"] == "image-segmentation"
    values = sorted(r["metrics"][0]["value"] for r in front["model-index"][0]["results"])
    assert values == [69.4, 70.4]  # DRS README: DeepLab-V2 val without / with CRF
    assert "Kim, Beomyoung" in card and 'wsss_zoo.segment(model, "image.jpg")' in card


def test_card_of_a_network_carries_its_pipeline_numbers():
    card = publish.model_card(model_entry("eps_resnet38_voc").to_dict())
    front = yaml.safe_load(card.split("---")[1])
    assert "license" not in front  # none published
    result = front["model-index"][0]["results"][0]
    assert result["metrics"][0]["value"] == 69.22 and "eps_voc" in result["metrics"][0]["name"]
    assert "Do not re-host" in card


def test_publish_outputs_replace_planted_symlinks(tmp_path, monkeypatch):
    """config.json, README.md and model.safetensors are written next to the target and renamed over it."""
    import os

    import torch

    from wsss_zoo import cache, hub

    entry = model_entry("drs_vgg16_voc")
    monkeypatch.setattr(hub, "resolve_file", lambda entry, weights, progress=True: tmp_path / "upstream.pth")
    monkeypatch.setattr(cache, "sha256_file", lambda path: entry.sha256 or "0" * 64)
    monkeypatch.setattr(publish, "convert_state_dict_file", lambda name, path, progress=True: {"w": torch.ones(2)})
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    for name in ("config.json", "README.md", "model.safetensors"):
        os.symlink(victim, out / name)
    publish.publish("drs_vgg16_voc", out, overwrite=True)
    assert victim.read_bytes() == b"precious"
    for name in ("config.json", "README.md", "model.safetensors"):
        assert (out / name).is_file() and not (out / name).is_symlink()
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]

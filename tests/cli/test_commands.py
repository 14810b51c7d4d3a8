"""list / info / download / convert / publish / eval and the dataset-split mode, driven as a user would."""
import json

import numpy as np
import pytest
from cli_support import ROOT, run_cli, run_main
from PIL import Image

COMMANDS = ("list", "info", "download", "cam", "pseudo-mask", "segment", "compare", "convert", "publish", "eval")


def test_help_lists_every_command_with_examples(capsys):
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in COMMANDS:
        assert f"    {command}" in proc.stdout
    assert "examples:" in proc.stdout and "exit codes" in proc.stdout
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            run_main(capsys, command, "--help")
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert f"usage: wsss-zoo {command}" in out and "examples:" in out and "wsss-zoo " + command in out


def test_one_help_covers_images_folders_and_dataset_splits(capsys):
    with pytest.raises(SystemExit):
        run_main(capsys, "pseudo-mask", "eps_voc", "--voc-root", "x", "--help")
    out = capsys.readouterr().out
    for option in ("--labels", "--skip-existing", "--voc-root", "--keep-going", "--workers", "--precision", "--set"):
        assert option in out, option


def test_list_and_info(capsys):
    proc = run_cli("list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "METHOD", "TASK", "DATASET", "MIOU", "CACHED", "LICENSE"]
    reg = json.loads((ROOT / "checkpoints.json").read_text())
    assert sorted(line.split()[0] for line in lines[1:]) == sorted(list(reg["models"]) + list(reg["pipelines"]))
    code, out, err = run_main(capsys, "info", "cda_irn_voc")
    assert code == 0, err
    assert "role cam: cda_irn_resnet50_voc (not cached)" in out
    assert "@InProceedings{CDA_2021_ICCV" in out and "MIT" in out


def test_list_filters_and_json(capsys):
    code, out, _ = run_main(capsys, "list", "--method", "eps", "--json")
    rows = json.loads(out)
    assert code == 0 and {r["method"] for r in rows} == {"EPS"}
    assert {r["name"] for r in rows if r["kind"] == "pipeline"} == {"eps_voc", "eps_base_voc", "eps_coco",
                                                                     "eps_base_coco"}
    code, out, _ = run_main(capsys, "list", "--task", "segmentation")
    assert code == 0 and "sbnet_deeplabv2_resnet101_voc" in out and "pipeline" not in out
    code, out, _ = run_main(capsys, "info", "eps_resnet38_voc", "--json")
    assert code == 0 and json.loads(out)["layout"] == "resnet38_eps"


def test_list_sorts_by_reported_miou_and_filters_by_wildcard(capsys):
    # numbers as the authors report them (checkpoints.json metrics): pseudo-mask mIoU on VOC/COCO train
    code, out, err = run_main(capsys, "list", "--pipelines", "--sort", "miou")
    assert code == 0, err
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert names == ["eps_voc", "cda_irn_voc", "cda_seam_voc", "sbnet_voc", "cda_psa_voc", "eps_base_voc", "eps_coco",
                     "eps_base_coco", "drs_voc", "rib_coco", "rib_voc"]  # no reported number: last, by name
    assert "69.22 pseudo-mask/train" in out.splitlines()[1]
    code, out, _ = run_main(capsys, "list", "drs_deeplab*", "--json")
    rows = {r["name"]: r["miou"] for r in json.loads(out)}
    assert rows == {"drs_deeplabv2_resnet101_voc": {"miou": 70.4, "stage": "segmentation", "dataset": "voc12",
                                                    "split": "val", "crf": True},
                    "drs_deeplabv3plus_resnet101_voc": {"miou": 71.0, "stage": "segmentation", "dataset": "voc12",
                                                        "split": "val", "crf": True}}
    code, out, _ = run_main(capsys, "list", "eps*", "--models", "--sort", "name")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [
        "eps_base_resnet38_coco", "eps_base_resnet38_voc", "eps_resnet38_coco", "eps_resnet38_voc"]
    code, out, _ = run_main(capsys, "list", "--sort", "method", "--pipelines", "--dataset", "coco")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["eps_base_coco", "eps_coco", "rib_coco"]
    code, out, _ = run_main(capsys, "list", "eps")
    assert code == 0 and "nothing matches" in out and "'*eps*'" in out


def test_download_uses_the_cache_and_expands_pipelines(capsys, weights, _isolated_cache):
    cached = _isolated_cache / "checkpoints" / "cda_res50_cam_aug.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(weights["upstream"]["cda_irn_resnet50_voc"].read_bytes())
    code, out, err = run_main(capsys, "download", "cda_irn_resnet50_voc")
    assert code == 0, err
    assert out.strip() == f"cda_irn_resnet50_voc: {cached}"
    code, out, err = run_main(capsys, "list", "--method", "CDA", "--models", "--json")
    assert [r["cached"] for r in json.loads(out) if r["name"].startswith("cda_irn_resnet50")] == [True]
    # a pipeline means its networks: one is cached, the other cannot be downloaded offline -> partly done
    code, out, err = run_main(capsys, "download", "cda_irn_voc")
    assert code == 3 and "cda_irn_resnet50_voc: " in out and "cda_irn_edge_resnet50_voc" in err
    code, out, err = run_main(capsys, "download", "--verify", "cda_irn_resnet50_voc")
    assert code == 0 and out.strip() == "cda_irn_resnet50_voc: ok"
    # a file swapped in the cache stays a mismatch: --verify compares with the record and never re-records
    cached.write_bytes(weights["upstream"]["cda_irn_edge_resnet50_voc"].read_bytes())
    for _ in range(2):
        code, out, err = run_main(capsys, "download", "--verify", "cda_irn_resnet50_voc")
        assert code == 2 and "cda_irn_resnet50_voc: sha256 MISMATCH" in out
        assert f"delete {cached} and download it again" in out
    code, out, err = run_main(capsys, "download", "rib_voc")  # the irn role has no published weights
    assert "role 'irn' has no published weights" in err


def test_convert_an_upstream_file(weights, tmp_path, capsys):
    from safetensors import safe_open

    import wsss_zoo

    out = tmp_path / "cam.safetensors"
    proc = run_cli("convert", weights["upstream"]["cda_irn_resnet50_voc"], "--name", "cda_irn_resnet50_voc",
                   "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout
    with safe_open(str(out), "pt") as f:
        assert f.metadata()["wsss_zoo_name"] == "cda_irn_resnet50_voc"
        assert not any(k.startswith(("stage", "backbone.", "newly_added")) for k in f.keys())  # aliases collapsed
    model = wsss_zoo.load("cda_irn_resnet50_voc", weights=out)
    assert not model.training
    # the IRNet file is not a CAM network: the message names the layout it does have
    code, _, err = run_main(capsys, "convert", weights["upstream"]["cda_irn_edge_resnet50_voc"], "--name",
                            "cda_irn_resnet50_voc", "--out", tmp_path / "wrong.safetensors")
    assert code == 2 and "irn_edge" in err and "Traceback" not in err
    assert not (tmp_path / "wrong.safetensors").exists()


def test_publish_writes_a_hugging_face_folder(capsys, weights, tmp_path):
    from huggingface_hub import ModelCard

    out = tmp_path / "hf"
    upstream = weights["upstream"]["cda_irn_resnet50_voc"]
    # a stand-in file is not the authors' checkpoint: refused unless declared as retrained
    code, _, err = run_main(capsys, "publish", "cda_irn_resnet50_voc", "--weights", upstream, "--out", out)
    assert code == 2 and "--retrained" in err and "wsss-zoo download cda_irn_resnet50_voc" in err
    assert not out.exists()
    code, stdout, err = run_main(capsys, "publish", "cda_irn_resnet50_voc", "--weights", upstream, "--out", out,
                                 "--retrained")
    assert code == 0, err
    assert f"hf upload <user>/cda_irn_resnet50_voc {out} ." in err + stdout
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    card = ModelCard((out / "README.md").read_text())
    assert card.data.license == "mit" and card.data.library_name == "wsss_zoo"
    assert card.data.eval_results is None and "50.8" not in card.text  # no reported numbers for a retrained file
    assert "@InProceedings{CDA_2021_ICCV" in card.text and "**retrained**" in card.text
    config = json.loads((out / "config.json").read_text())
    assert config["wsss_zoo_name"] == "cda_irn_resnet50_voc" and config["classes"][15] == "person"
    assert config["retrained"] is True and config["entry"]["architecture"]["builder"]
    # an existing folder is not overwritten by accident
    code, _, err = run_main(capsys, "publish", "cda_irn_resnet50_voc", "--weights", upstream, "--out", out,
                            "--retrained")
    assert code == 2 and "--overwrite" in err


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    from fixtures.datasets import make_voc_tree

    return make_voc_tree(tmp_path_factory.mktemp("voc"), n_train=2, n_val=1, n_sbd=0)


def test_eval_a_folder_of_masks(voc, tmp_path):
    from wsss_zoo.data.io import write_label_png

    for image_id in voc.splits["train"]:
        write_label_png(tmp_path / f"{image_id}.png", voc.masks[image_id])
    proc = run_cli("eval", "--pred", tmp_path, "--voc-root", voc.root, "--split", "train", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "100.0" in proc.stdout


def test_pseudo_masks_of_a_dataset_split(voc, irn_weights, tmp_path):
    proc = run_cli("pseudo-mask", "cda_irn_voc", "--voc-root", voc.root, "--split", "train", "--out", tmp_path,
                   "--no-progress", "--device", "cpu", *irn_weights)
    assert proc.returncode == 0, proc.stderr
    for image_id in voc.splits["train"]:
        with Image.open(tmp_path / f"{image_id}.png") as im:
            assert im.size[::-1] == voc.sizes[image_id]
            assert set(np.unique(np.asarray(im)).tolist()) <= set([0, 255] + voc.labels[image_id])

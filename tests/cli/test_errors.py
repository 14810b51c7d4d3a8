"""Mistakes a user makes get one readable line and exit code 2, never a traceback."""
import pytest
import torch
from cli_support import ROOT, assert_user_error, run_cli, run_main

from wsss_zoo.cli import batch_inputs, options, registry_commands
from wsss_zoo.errors import ConfigError, InvalidLabelsError, UnknownNameError

EXAMPLE = str(ROOT / "examples" / "cyclist.jpg")


@pytest.fixture(autouse=True)
def _in_empty_folder(tmp_path, monkeypatch):
    """Relative outputs of the commands under test land in a scratch folder."""
    monkeypatch.chdir(tmp_path)


def user_error(capsys, *args, fragments=(), code=2):
    got, out, err = run_main(capsys, *args)
    assert got == code, (got, out, err)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("wsss-zoo: error: ")]
    assert lines, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def test_unknown_name_is_one_line_without_traceback():
    proc = run_cli("info", "eps_vco")
    assert_user_error(proc, "eps_vco", "did you mean")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_argparse_errors_keep_usage_and_code_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_main(capsys, "pseudo-mask")
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "usage: wsss-zoo pseudo-mask" in err and "required: NAME" in err


@pytest.mark.parametrize("args, fragments", [
    (["pseudo-mask", "eps_voc", "missing.jpg", "--labels", "person"], ["neither an image file nor a folder"]),
    (["pseudo-mask", "eps_voc", EXAMPLE], ["--labels"]),
    (["pseudo-mask", "eps_voc", EXAMPLE, "--labels", "persn"], ["did you mean person"]),
    (["pseudo-mask", "eps_voc", EXAMPLE, "--labels", "0"], ["background"]),
    (["pseudo-mask", "eps_resnet38_voc", EXAMPLE, "--labels", "person"], ["eps_voc"]),
    (["segment", "eps_voc", EXAMPLE], ["drs_deeplabv2_resnet101_voc"]),
    (["cam", "cda_irn_edge_resnet50_voc", EXAMPLE, "--labels", "1"], ["not one of the CAM"]),
    (["pseudo-mask", "drs_voc", EXAMPLE, "--labels", "person"], ["--saliency"]),
    (["pseudo-mask", "eps_voc", EXAMPLE, "--labels", "person", "--set", "thr=1"],
     ["bg_threshold=0.2"]),
    (["pseudo-mask", "cda_irn_voc", EXAMPLE, "--labels", "person", "--weights", "aff=x.pth"],
     ["roles: cam (cda_irn_resnet50_voc), irn"]),
    (["pseudo-mask", "cda_irn_voc", EXAMPLE, "--labels", "person", "--weights", "x.pth"],
     ["ROLE=PATH"]),
    (["cam", "cda_irn_voc", EXAMPLE, "--labels", "person", "--scales", "1,0.5"], ["--set"]),
    (["cam", "cda_irn_resnet50_voc", EXAMPLE, "--labels", "person", "--scales", "a"], ["--scales"]),
    (["cam", "cda_irn_resnet50_voc", EXAMPLE, "--labels", "person"], ["offline", "--weights PATH"]),
    (["download", "eps_resnet38_voc"], ["offline"]),
    (["download"], ["--all"]),
    (["compare", EXAMPLE, "--labels", "person", "--methods", "eps_voc", "--weights", "cam=x.pth"],
     ["name the network"]),
    (["compare", EXAMPLE, "--labels", "person", "--methods", "eps_voc,eps_coco"], ["one dataset"]),
    (["compare", EXAMPLE, "--labels", "person", "--out", "grid.jpg"], [".png"]),
    (["convert", "missing.pth", "--name", "eps_resnet38_voc", "--out", "x.safetensors"], ["not found"]),
    (["convert", EXAMPLE, "--name", "eps_resnet38_voc", "--out", "x.pt"], [".safetensors"]),
    (["publish", "rib_resnet50_voc", "--out", "hf"], ["cannot be published", "no license", "wsss-zoo convert"]),
    (["publish", "eps_voc", "--out", "hf"], ["pipeline", "eps_resnet38_voc"]),
])
def test_user_errors(capsys, args, fragments):
    user_error(capsys, *args, fragments=fragments)


def test_empty_folder_and_unwritable_output(capsys, tmp_path):
    user_error(capsys, "segment", "drs_deeplabv2_resnet101_voc", tmp_path, fragments=["no images"])
    blocker = tmp_path / "file"
    blocker.write_text("")
    user_error(capsys, "segment", "drs_deeplabv2_resnet101_voc", EXAMPLE, "--out", blocker / "sub",
               fragments=["output folder", "--out"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device(capsys):
    user_error(capsys, "segment", "drs_deeplabv2_resnet101_voc", EXAMPLE, "--device", "cuda",
               fragments=["CUDA is not available", "--device cpu"])
    user_error(capsys, "segment", "drs_deeplabv2_resnet101_voc", EXAMPLE, "--device", "tpu7",
               fragments=["unknown device"])


def _patch_command(monkeypatch, exc):
    def boom(args):
        raise exc

    monkeypatch.setattr(registry_commands, "cmd_list", boom)


def test_interrupt_exits_130(capsys, monkeypatch):
    _patch_command(monkeypatch, KeyboardInterrupt())
    code, _, err = run_main(capsys, "list")
    assert code == 130 and "interrupted" in err and "Traceback" not in err


def test_a_bug_shows_its_traceback_and_exits_1(capsys, monkeypatch):
    _patch_command(monkeypatch, ZeroDivisionError("oops"))
    code, _, err = run_main(capsys, "list")
    assert code == 1 and "Traceback" in err and "ZeroDivisionError" in err and "bug" in err


def test_debug_shows_the_traceback_of_user_errors(capsys):
    with pytest.raises(UnknownNameError):
        run_main(capsys, "--debug", "info", "nope")
    with pytest.raises(UnknownNameError):
        run_main(capsys, "info", "nope", "--debug")


def test_labels_files(tmp_path):
    import json

    import numpy as np

    text = tmp_path / "labels.txt"
    text.write_text("# comment\nimg1.jpg bicycle,person\nimg2\t8 15\nimg3,traffic light\n\nsub/img4 cat\n")
    assert batch_inputs.read_labels_file(text) == {"img1": ["bicycle", "person"], "img2": ["8", "15"],
                                          "img3": ["traffic light"], "sub/img4": ["cat"]}
    js = tmp_path / "labels.json"
    js.write_text(json.dumps({"a.jpg": ["dog"], "b": "cat,dog"}))
    assert batch_inputs.read_labels_file(js) == {"a": ["dog"], "b": "cat,dog"}
    npy = tmp_path / "cls_labels.npy"
    vec = np.zeros(20, np.float32)
    vec[[1, 14]] = 1
    np.save(npy, {"2007_000129": vec})
    table = batch_inputs.read_labels_file(npy)
    assert list(table) == ["2007_000129"] and table["2007_000129"].tolist() == vec.tolist()
    bad = tmp_path / "bad.txt"
    bad.write_text("img1\n")
    with pytest.raises(InvalidLabelsError, match="bad.txt:1"):
        batch_inputs.read_labels_file(bad)


def test_weights_arguments():
    from wsss_zoo.registry import model_entry, pipeline_entry

    irn = pipeline_entry("cda_irn_voc")
    assert options.weights_for(irn, ["cam=a.pth", "cda_irn_edge_resnet50_voc=b.pth"]) == {"cam": "a.pth", "irn": "b.pth"}
    assert options.weights_for(irn, ["cda_irn_voc:irn=b.pth", "eps_voc:cam=c.pth"], strict=False) == {"irn": "b.pth"}
    assert options.weights_for(pipeline_entry("eps_voc"), ["e.pth"]) == {"cam": "e.pth"}
    assert options.weights_for(pipeline_entry("eps_voc"), []) is None
    eps = model_entry("eps_resnet38_voc")
    assert options.weights_for(eps, ["e.pth"]) == "e.pth"
    assert options.weights_for(eps, ["cam=a.pth", "eps_resnet38_voc=e.pth"], strict=False) == "e.pth"
    with pytest.raises(ConfigError, match="given twice"):
        options.weights_for(eps, ["a.pth", "b.pth"])
    with pytest.raises(ConfigError, match="is for eps_voc, not cda_irn_voc"):
        options.weights_for(irn, ["eps_voc:cam=c.pth"])
    with pytest.raises(ConfigError, match="'cam' is not eps_resnet38_voc"):
        options.weights_for(eps, ["cam=a.pth"])


def test_a_labels_file_that_would_run_code_is_refused(capsys, tmp_path):
    """``--labels-file cls_labels.npy`` used np.load(allow_pickle=True): the payload ran before any check."""
    import numpy as np

    from fixtures.hostile import malicious_npy

    marker = tmp_path / "marker"
    evil = malicious_npy(tmp_path / "cls_labels.npy", marker, "os.system", wrap={"cyclist": np.zeros(20, np.float32)})
    with pytest.raises(InvalidLabelsError, match="was refused"):
        batch_inputs.read_labels_file(evil)
    user_error(capsys, "cam", "eps_voc", EXAMPLE, "--labels-file", str(evil), fragments=["cls_labels.npy was refused"])
    assert not marker.exists()


def test_labels_files_that_are_not_utf8(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes(b"img1 cat\nimg2 caf\xe9\n")
    with pytest.raises(InvalidLabelsError, match=r"labels\.txt:2: byte 0xe9 at offset 17 is not UTF-8"):
        batch_inputs.read_labels_file(path)
    js = tmp_path / "labels.json"
    js.write_bytes(b'{"a": ["\xff"]}')
    with pytest.raises(InvalidLabelsError, match=r"labels\.json:1: byte 0xff"):
        batch_inputs.read_labels_file(js)


@pytest.mark.parametrize("value, kind", [({"person": 1}, "an object"), ([["cat"]], "a list holding"),
                                         (None, "null"), (True, "a boolean"), (1.5, "a number with a fraction"),
                                         (["cat", False], "a list holding")])
def test_labels_json_values_must_be_names_or_ids(tmp_path, value, kind):
    import json

    js = tmp_path / "labels.json"
    js.write_text(json.dumps({"img1": ["cat"], "img2": value}))
    with pytest.raises(InvalidLabelsError, match=f"the labels of 'img2' are {kind}"):
        batch_inputs.read_labels_file(js)
    js.write_text(json.dumps({"img1": 8, "img2": [8, "dog"], "img3": "cat, dog"}))
    assert batch_inputs.read_labels_file(js) == {"img1": 8, "img2": [8, "dog"], "img3": "cat, dog"}


def test_labels_json_nested_too_deep_or_odd_names(tmp_path):
    js = tmp_path / "labels.json"
    js.write_text("[" * 100000)
    with pytest.raises(InvalidLabelsError, match="not valid JSON"):
        batch_inputs.read_labels_file(js)
    js.write_text('{"": ["cat"], "..": ["dog"]}')
    assert batch_inputs.read_labels_file(js) == {".": ["cat"], "..": ["dog"]}


def test_npy_labels_whose_values_are_not_vectors(tmp_path):
    import numpy as np

    npy = tmp_path / "cls_labels.npy"
    np.save(npy, {"img1": "person"}, allow_pickle=True)
    with pytest.raises(InvalidLabelsError, match="not a multi-hot vector"):
        batch_inputs.read_labels_file(npy)

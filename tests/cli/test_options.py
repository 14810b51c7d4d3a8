"""One grammar for every mode: --weights, --set, --precision and the mode-specific options, read the same
way for an image, a folder, a dataset split and compare (wsss_zoo/cli/options.py, wsss_zoo/cli/targets.py)."""
import shutil

import pytest
from cli_support import ROOT, run_main

import wsss_zoo
from wsss_zoo.errors import WsssZooError
from wsss_zoo.precision import cpu_supports_bf16

EXAMPLE = ROOT / "examples" / "cyclist.jpg"


class Stopped(WsssZooError):
    """Raised by the recording loaders: the command stops where it would load weights."""


@pytest.fixture
def loads(monkeypatch):
    """Every load the commands ask for, as (function, name, weights, keyword arguments); nothing loads."""
    calls = []

    def recorder(function):
        def record(name, weights=None, **kwargs):
            calls.append((function, name, weights, kwargs))
            raise Stopped("stopped where the weights would load")
        return record

    monkeypatch.setattr(wsss_zoo.api, "load", recorder("load"))
    monkeypatch.setattr(wsss_zoo.api, "load_pipeline", recorder("load_pipeline"))
    return calls


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    from fixtures.datasets import make_voc_tree

    return make_voc_tree(tmp_path_factory.mktemp("voc"), n_train=2, n_val=1, n_sbd=0)


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "photos"
    path.mkdir()
    shutil.copy(EXAMPLE, path / "cyclist.jpg")
    return path


def _modes(command, name, folder, voc, tmp_path):
    """The argument lists of ``command NAME`` on an image, a folder and a dataset split."""
    labels = [] if command == "segment" else ["--labels", "person"]
    return {"image": [command, name, EXAMPLE, *labels, "--out", tmp_path / "a"],
            "folder": [command, name, folder, *labels, "--out", tmp_path / "b"],
            "dataset": [command, name, "--voc-root", voc.root, "--split", "train", "--out", tmp_path / "c"]}


@pytest.mark.parametrize("weights, expected", [
    (["cam=a.pth", "irn=b.pth"], {"cam": "a.pth", "irn": "b.pth"}),
    (["cda_irn_resnet50_voc=a.pth", "cda_irn_edge_resnet50_voc=b.pth"], {"cam": "a.pth", "irn": "b.pth"}),
    (["cda_irn_voc:cam=a.pth", "cda_irn_voc:irn=b.pth"], {"cam": "a.pth", "irn": "b.pth"}),
    (["irn=b.pth"], {"irn": "b.pth"}),
])
def test_one_weights_grammar_for_images_folders_splits_and_compare(capsys, loads, folder, voc, tmp_path, weights,
                                                                   expected):
    flags = [a for w in weights for a in ("--weights", w)]
    runs = _modes("pseudo-mask", "cda_irn_voc", folder, voc, tmp_path)
    if all("=" in w and (":" in w or w.split("=")[0].startswith("cda_")) for w in weights):  # named forms only
        runs["compare"] = ["compare", EXAMPLE, "--labels", "person", "--methods", "cda_irn_voc",
                           "--out", tmp_path / "grid.png"]
    for mode, argv in runs.items():
        code, _, err = run_main(capsys, *argv, *flags, "--device", "cpu")
        assert code == 2 and "stopped where the weights would load" in err, (mode, err)
        function, name, got, kwargs = loads.pop()
        assert (function, name, got) == ("load_pipeline", "cda_irn_voc", expected), mode
        assert kwargs["precision"] == "fp32" and str(kwargs["device"]) == "cpu", mode
    assert not loads


def test_network_weights_read_the_same_in_every_mode(capsys, loads, folder, voc, tmp_path):
    runs = _modes("cam", "cda_irn_resnet50_voc", folder, voc, tmp_path)
    runs["compare"] = ["compare", EXAMPLE, "--labels", "person", "--methods", "cda_irn_resnet50_voc",
                       "--out", tmp_path / "grid.png"]
    for mode, argv in runs.items():
        code, _, err = run_main(capsys, *argv, "--weights", "cda_irn_resnet50_voc=n.pth")
        assert code == 2, (mode, err)
        assert loads.pop()[:3] == ("load", "cda_irn_resnet50_voc", "n.pth"), mode
    for mode, argv in _modes("cam", "cda_irn_resnet50_voc", folder, voc, tmp_path).items():  # a plain PATH too
        run_main(capsys, *argv, "--weights", "n.pth")
        assert loads.pop()[:3] == ("load", "cda_irn_resnet50_voc", "n.pth"), mode


@pytest.mark.parametrize("pair, fragments", [
    ("bg_treshold=0.3", ["eps_voc has no setting 'bg_treshold'", "did you mean bg_threshold"]),
    ("bg_threshold=1.5", ["bg_threshold=1.5 is invalid", "a number in [0, 1]"]),
    ("bg_threshold=high", ["bg_threshold='high' is invalid", "a number in [0, 1]"]),
    ("bg_threshold=null", ["bg_threshold=None is invalid"]),
    ("bg_threshold", ["--set expects KEY=VALUE"]),
])
def test_settings_are_checked_before_anything_loads(capsys, loads, folder, tmp_path, pair, fragments):
    # the dataset root does not exist: the settings are checked before the split is opened
    for argv in (["pseudo-mask", "eps_voc", EXAMPLE, "--labels", "person"],
                 ["pseudo-mask", "eps_voc", folder, "--labels", "person"],
                 ["pseudo-mask", "eps_voc", "--voc-root", tmp_path / "missing", "--out", tmp_path / "o"],
                 ["cam", "eps_voc", EXAMPLE, "--labels", "person"]):
        code, _, err = run_main(capsys, *argv, "--set", pair, "--out", tmp_path / "o")
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert err.startswith("wsss-zoo: error: ") and all(f in err for f in fragments), (fragments, err)
    assert not loads


def test_set_is_for_pipelines(capsys, loads):
    code, _, err = run_main(capsys, "cam", "eps_resnet38_voc", EXAMPLE, "--labels", "person", "--set", "a=1")
    assert code == 2 and "--set changes pipeline settings" in err and not loads


@pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU has no bfloat16 instructions")
def test_bf16_reaches_the_network(capsys, weights, tmp_path, monkeypatch):
    loaded = []
    real_load = wsss_zoo.api.load

    def keep(*args, **kwargs):
        loaded.append(real_load(*args, **kwargs))
        return loaded[-1]

    monkeypatch.setattr(wsss_zoo.api, "load", keep)
    code, out, err = run_main(capsys, "cam", "cda_irn_resnet50_voc", EXAMPLE, "--labels", "person", "--device", "cpu",
                              "--weights", weights["cda_irn_resnet50_voc"], "--precision", "bf16", "--no-viz",
                              "--out", tmp_path)
    assert code == 0, err
    assert [m.wsss_zoo_precision for m in loaded] == ["bf16"]
    assert (tmp_path / "cyclist.npy").is_file() and "precision" not in err  # said only for auto


def test_auto_precision_says_what_it_picked(capsys, loads):
    expected = "bf16" if cpu_supports_bf16() else "fp32"
    code, _, err = run_main(capsys, "segment", "drs_deeplabv2_resnet101_voc", EXAMPLE, "--device", "cpu",
                            "--precision", "auto")
    assert code == 2 and loads.pop()[3]["precision"] == expected
    said = [line for line in err.splitlines() if "--precision auto" in line]
    assert said == [f"wsss-zoo: --precision auto: {expected} (this CPU "
                    + ("has AVX512-BF16/AMX-BF16)" if expected == "bf16" else "has no bfloat16 instructions)")]
    code, _, err = run_main(capsys, "-q", "segment", "drs_deeplabv2_resnet101_voc", EXAMPLE, "--device", "cpu",
                            "--precision", "auto")
    assert "--precision auto" not in err


@pytest.mark.parametrize("command", [["segment", "drs_deeplabv2_resnet101_voc", EXAMPLE],
                                     ["pseudo-mask", "eps_voc", "--voc-root", "nowhere", "--out", "o"],
                                     ["compare", EXAMPLE, "--labels", "person"]])
def test_fp16_on_a_cpu_is_one_line_and_exit_2(capsys, loads, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(capsys, *command, "--device", "cpu", "--precision", "fp16")
    assert code == 2 and not loads
    assert err.splitlines() == ["wsss-zoo: error: precision 'fp16' is for GPUs (float16 on a CPU is slow and "
                                "inexact); use 'auto' (bf16 where the CPU supports it) or 'fp32'"]


@pytest.mark.parametrize("argv, fragment", [
    (["pseudo-mask", "eps_voc", "--voc-root", "R", "--out", "o", "--labels", "person"],
     "--labels applies to an image or a folder"),
    (["cam", "eps_resnet38_voc", "--voc-root", "R", "--out", "o", "--scales", "1", "--no-viz"],
     "--no-viz, --scales apply to an image or a folder"),
    (["pseudo-mask", "eps_voc", str(EXAMPLE), "--labels", "person", "--keep-going"],
     "--keep-going applies to a dataset split"),
    (["segment", "drs_deeplabv2_resnet101_voc", str(EXAMPLE), "--crop-val", "513"],
     "--crop-val applies to a dataset split"),
    (["pseudo-mask", "eps_voc", str(EXAMPLE), "--voc-root", "R", "--out", "o"], "not both"),
    (["pseudo-mask", "eps_voc", "--voc-root", "R"], "give --out DIR"),
    (["pseudo-mask", "--pipeline", "cda_irn_voc", "eps_voc", str(EXAMPLE)], "NAME given twice"),
    (["pseudo-mask", "--pipeline", "standin:Factory", str(EXAMPLE), "--labels", "person"], "standin:Factory"),
])
def test_options_of_the_other_input_mode_are_refused(capsys, loads, argv, fragment):
    code, _, err = run_main(capsys, *argv)
    assert code == 2 and fragment in err and err.startswith("wsss-zoo: error: "), err
    assert not loads


def test_name_may_also_be_given_as_pipeline_or_model(capsys, loads):
    code, _, err = run_main(capsys, "pseudo-mask", "--pipeline", "eps_voc", EXAMPLE, "--labels", "person")
    assert code == 2 and loads.pop()[:2] == ("load_pipeline", "eps_voc")
    code, _, err = run_main(capsys, "segment", "--model", "drs_deeplabv2_resnet101_voc", EXAMPLE)
    assert code == 2 and loads.pop()[:2] == ("load", "drs_deeplabv2_resnet101_voc")

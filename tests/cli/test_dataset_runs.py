"""Dataset-split runs of cam / pseudo-mask / segment through the command line (wsss_zoo/cli/dataset_runs.py):
the one error path, no progress bars off a terminal, precision in the manifest, --workers passed through."""
import json

import pytest
from cli_support import run_cli, run_main

import wsss_zoo.data.generate as gen
from wsss_zoo.precision import cpu_supports_bf16


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    from fixtures.datasets import make_voc_tree

    return make_voc_tree(tmp_path_factory.mktemp("voc"), n_train=3, n_val=1, n_sbd=0)


@pytest.fixture
def voc_with_a_broken_image(voc, tmp_path):
    """A copy of the tree whose second train image is not a JPEG."""
    import shutil

    root = tmp_path / "VOC2012"
    shutil.copytree(voc.root, root)
    broken = voc.splits["train"][1]
    (root / "JPEGImages" / f"{broken}.jpg").write_bytes(b"not a jpeg")
    return root, broken


def test_failed_images_go_through_the_one_error_path_and_no_bar_is_drawn(voc_with_a_broken_image, weights,
                                                                         tmp_path):
    root, broken = voc_with_a_broken_image
    common = ["cam", "cda_irn_resnet50_voc", "--voc-root", root, "--split", "train", "--device", "cpu",
              "--weights", weights["cda_irn_resnet50_voc"]]
    proc = run_cli(*common, "--out", tmp_path / "a", "--keep-going")  # stderr is a pipe, not a terminal
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"wsss-zoo: error: {broken}: "), proc.stderr
    assert "\r" not in proc.stderr and "img/s" not in proc.stderr and "%|" not in proc.stderr  # no tqdm
    assert len(list((tmp_path / "a").glob("*.npy"))) == 2
    assert "cam: 2 written, 0 already done, 1 failed, 3 images" in proc.stdout
    proc = run_cli(*common, "--out", tmp_path / "b")  # without --keep-going the first failure stops the run
    assert proc.returncode == 2 and proc.stderr.startswith(f"wsss-zoo: error: {broken}: "), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


@pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU has no bfloat16 instructions")
def test_the_manifest_records_the_precision(capsys, voc, weights, tmp_path):
    for precision in ("bf16", "fp32"):
        out = tmp_path / precision
        code, stdout, err = run_main(capsys, "cam", "cda_irn_resnet50_voc", "--voc-root", voc.root, "--split", "train",
                                     "--limit", "1", "--out", out, "--device", "cpu", "--precision", precision,
                                     "--weights", weights["cda_irn_resnet50_voc"])
        assert code == 0, err
        assert json.loads((out / "manifest.json").read_text())["precision"] == precision


def test_workers_are_passed_through_to_generate(capsys, voc, tmp_path, monkeypatch):
    seen = {}

    def generate(dataset, target, command, out_dir, *, workers=None, **options):
        seen.update(options, workers=workers, ids=list(dataset.ids))
        return gen.Report(command, options["target_name"], dataset.name, dataset.split, str(out_dir),
                          n_images=len(dataset.ids), written=len(dataset.ids))

    monkeypatch.setattr(gen, "generate", generate)
    code, out, err = run_main(capsys, "pseudo-mask", "standin:Whatever", "--voc-root", voc.root, "--out", tmp_path,
                              "--workers", "3", "--limit", "2")
    assert code == 2 and "cannot import 'standin:Whatever'" in err  # a factory is imported when it loads
    monkeypatch.setattr("wsss_zoo.cli.targets._factory", lambda spec: object())
    code, out, err = run_main(capsys, "pseudo-mask", "mine:Factory", "--voc-root", voc.root, "--out", tmp_path,
                              "--workers", "3", "--limit", "2", "--keep-going", "--overwrite")
    assert code == 0, err
    assert seen["workers"] == 3 and seen["keep_going"] and seen["overwrite"] and seen["ids"] == voc.splits["train"][:2]
    assert seen["precision"] is None and seen["progress"] is False  # a custom object; stderr is not a terminal

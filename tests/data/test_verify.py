"""benchmarks/verify.py on the tiny trees with a stand-in registry (every kind of row) and stand-in weights."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import standin

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def verify():
    spec = importlib.util.spec_from_file_location("wsss_verify", ROOT / "benchmarks" / "verify.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["wsss_verify"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def protocols(verify, monkeypatch):
    P = verify.Protocol
    table = {("standin_cam_voc", "cam"): P("cam", "irn", (0.15,)),
             ("standin_voc", "pseudo_mask"): P("pseudo-mask", "eps"),
             ("standin_coco", "pseudo_mask"): P("pseudo-mask", "eps"),
             ("standin_seg_voc", "segmentation"): P("segment", "kazuto"),
             ("standin_user_voc", "pseudo_mask"): P("pseudo-mask", "irn"),
             ("standin_unpublished_voc", "cam"): P("cam", "irn", (0.15,))}
    monkeypatch.setattr(verify, "PROTOCOLS", table)
    return table


def _rows(path):
    return {r["key"]: r for r in json.loads(Path(path).read_text())["rows"]}


def test_limit_runs_every_row_and_reports_sensibly(verify, protocols, standin_registry, voc_tree, coco_tree,
                                                   tmp_path, capsys):
    weights = standin.write_weights(tmp_path / "w")
    out = tmp_path / "report.json"
    code = verify.main(["--voc-root", str(voc_tree.root), "--coco-root", str(coco_tree.root), "--weights-dir",
                        str(weights), "--work-dir", str(tmp_path / "work"), "--limit", "1", "--json", str(out),
                        "--device", "cpu", "--no-progress"])
    assert code == 0
    rows = _rows(out)
    assert set(rows) == {"standin_voc/pseudo_mask/train", "standin_voc/pseudo_mask/val",
                         "standin_voc/pseudo_mask/train/crf",
                         "standin_coco/pseudo_mask/train", "standin_user_voc/pseudo_mask/train",
                         "standin_cam_voc/cam/train", "standin_seg_voc/segmentation/val",
                         "standin_seg_voc/segmentation/val/crf?", "standin_seg_voc/segmentation/test",
                         "standin_unpublished_voc/cam/train"}
    for key in ("standin_voc/pseudo_mask/train", "standin_voc/pseudo_mask/val", "standin_coco/pseudo_mask/train",
                "standin_cam_voc/cam/train", "standin_seg_voc/segmentation/val"):
        r = rows[key]
        assert r["status"] == "partial" and r["evaluated_images"] == 1, (key, r)
        assert 0.0 <= r["reproduced"] <= 100.0 and r["delta"] == pytest.approx(r["reproduced"] - r["reported"])
        assert "1 of" in r["detail"]
    assert rows["standin_cam_voc/cam/train"]["threshold"] == 0.15
    assert rows["standin_seg_voc/segmentation/test"]["status"] == "skipped"
    assert "no CRF recipe" in rows["standin_voc/pseudo_mask/train/crf"]["detail"]
    assert "user-trained 'irn'" in rows["standin_user_voc/pseudo_mask/train"]["detail"]
    assert rows["standin_unpublished_voc/cam/train"]["status"] == "skipped"
    assert "unavailable" in rows["standin_unpublished_voc/cam/train"]["detail"]  # offline, no local file
    assert "not stated" in rows["standin_seg_voc/segmentation/val/crf?"]["detail"] or \
        rows["standin_seg_voc/segmentation/val/crf?"]["status"] == "partial"
    table = capsys.readouterr().out
    assert "reported" in table and "reproduced" in table and "summary:" in table
    assert len(list((tmp_path / "work" / "standin_voc" / "train").glob("*.png"))) == 1


def test_missing_dataset_roots_are_skips(verify, protocols, standin_registry, tmp_path):
    weights = standin.write_weights(tmp_path / "w")
    out = tmp_path / "r.json"
    assert verify.main(["--weights-dir", str(weights), "--work-dir", str(tmp_path / "work"), "--json", str(out),
                        "--only", "standin_voc", "--only", "standin_coco", "--device", "cpu"]) == 0
    rows = _rows(out)
    assert {r["status"] for r in rows.values()} == {"skipped"}
    assert rows["standin_coco/pseudo_mask/train"]["detail"] == "no --coco-root"


def _all_background_seg_weights(path):
    # conv weights 0, bias +10 for background: every pixel predicted 0
    sd = {"standin_conv.weight": torch.zeros(21, 3, 1, 1), "standin_conv.bias": torch.full((21,), -10.0)}
    sd["standin_conv.bias"][0] = 10.0
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path)


@pytest.mark.parametrize("offset, status, code", [(0.0, "pass", 0), (0.3, "pass", 0), (1.0, "fail", 1)])
def test_full_row_pass_fail_against_hand_computed_miou(verify, protocols, monkeypatch, voc_tree, tmp_path,
                                                        offset, status, code):
    import wsss_zoo.registry as registry

    # kazuto convention on all-background predictions: IoU_bg = N_bg / N_valid over val (SegmentationClassAug),
    # every present class 0, absent classes not counted -> mIoU = IoU_bg / (1 + number of present classes)
    masks = [voc_tree.masks[i] for i in voc_tree.splits["val"]]
    n_valid = sum(int((m != 255).sum()) for m in masks)
    n_bg = sum(int((m == 0).sum()) for m in masks)
    present = set().union(*(set(np.unique(m).tolist()) for m in masks)) - {0, 255}
    expected = 100 * n_bg / n_valid / (1 + len(present))
    fake = standin.fake_registry(seg_reported=round(expected + offset, 2))
    standin.use_registry(monkeypatch, fake)
    _all_background_seg_weights(tmp_path / "w" / "standin_seg_voc.pth")
    out = tmp_path / "r.json"
    assert verify.main(["--voc-root", str(voc_tree.root), "--weights-dir", str(tmp_path / "w"), "--work-dir",
                        str(tmp_path / "work"), "--only", "standin_seg_voc/segmentation/val", "--json", str(out),
                        "--device", "cpu", "--no-progress"]) == code
    row = _rows(out)["standin_seg_voc/segmentation/val"]
    assert row["reproduced"] == pytest.approx(expected, abs=0.01)
    assert row["status"] == status and row["evaluated_images"] == len(masks)


def test_real_registry_rows_all_have_protocols(verify):
    rows = verify.collect_rows()
    assert rows, "checkpoints.json has no metric records"
    missing = [r.key for r in rows if (r.name, r.stage) not in verify.PROTOCOLS]
    assert not missing, f"rows without a verification protocol: {missing}"
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys))
    from wsss_zoo.metrics import CONVENTIONS
    from wsss_zoo.registry import is_model, is_pipeline

    for (name, _), proto in verify.PROTOCOLS.items():
        assert proto.convention in CONVENTIONS
        assert is_pipeline(name) if proto.command == "pseudo-mask" else is_model(name), name


@pytest.mark.slow  # writes a 420 MB ResNet-38 and a ResNet-50 file and runs them: ~1-2 min on 2 cores
def test_real_rows_with_family_standin_weights(verify, voc_tree, tmp_path):
    """eps_voc (ResNet-38 pipeline) and cda_irn_resnet50_voc (IRN CAM row) through verify.py --limit 2,
    twice: the second run reuses every generated file."""
    from fixtures.irn_layouts import write_cda_irn_resnet50_voc
    from fixtures.resnet38_layouts import write_layout
    from wsss_zoo.registry import model_entry

    w = tmp_path / "w"
    w.mkdir()
    write_layout("resnet38_eps", w / model_entry("eps_resnet38_voc").filename, num_classes=21)
    write_cda_irn_resnet50_voc(w / model_entry("cda_irn_resnet50_voc").filename)
    argv = ["--voc-root", str(voc_tree.root), "--weights-dir", str(w), "--work-dir", str(tmp_path / "work"),
            "--only", "eps_voc", "--only", "cda_irn_resnet50_voc", "--limit", "2", "--device", "cpu",
            "--no-download", "--json", str(tmp_path / "r.json")]
    assert verify.main(argv) == 0
    rows = _rows(tmp_path / "r.json")
    assert {k: r["status"] for k, r in rows.items()} == {"eps_voc/pseudo_mask/train": "partial",
                                                         "cda_irn_resnet50_voc/cam/train": "partial"}
    cams = sorted((tmp_path / "work" / "cda_irn_resnet50_voc" / "train").glob("*.npy"))
    assert len(cams) == 2 and "high_res" in np.load(cams[0], allow_pickle=True).item()  # IRN-style dicts
    masks = sorted((tmp_path / "work" / "eps_voc" / "train").glob("2*.png"))
    stamps = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in masks + cams}
    assert verify.main(argv) == 0
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in stamps} == stamps
    assert _rows(tmp_path / "r.json")["eps_voc/pseudo_mask/train"]["reproduced"] == rows[
        "eps_voc/pseudo_mask/train"]["reproduced"]


# --------------------------------------------------------------------------- protocol, seeds, outputs
def test_every_row_prints_its_protocol(verify, protocols, standin_registry, voc_tree, coco_tree, tmp_path, capsys):
    weights = standin.write_weights(tmp_path / "w")
    md = tmp_path / "v.md"
    assert verify.main(["--voc-root", str(voc_tree.root), "--coco-root", str(coco_tree.root), "--weights-dir",
                        str(weights), "--work-dir", str(tmp_path / "work"), "--limit", "1", "--json",
                        str(tmp_path / "v.json"), "--markdown", str(md), "--device", "cpu", "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = _rows(tmp_path / "v.json")
    table = lines[2:lines.index("")]
    assert len(table) == 2 * len(rows)                        # numbers, then the protocol, for every row
    for numbers, protocol in zip(table[::2], table[1::2]):
        assert protocol.startswith("    protocol: CRF ") and "evaluator " in protocol and "precision fp32" in protocol
    r = rows["standin_voc/pseudo_mask/train"]["protocol"]
    assert r == {"split": "train", "precision": "fp32", "crf": "off", "scales": "cam: 1, no flip",
                 "evaluator": "eps (EPS evaluate_png.py (pred >= n dropped, pred cropped to GT size)); "
                              "GT SegmentationClassAug"}
    assert rows["standin_coco/pseudo_mask/train"]["protocol"]["split"] == "train (82,081 images)"
    cam = rows["standin_cam_voc/cam/train"]["protocol"]
    assert cam["evaluator"].endswith("; CAM background threshold 0.15")
    assert rows["standin_seg_voc/segmentation/val/crf?"]["protocol"]["crf"].startswith("not stated upstream: both")
    text = md.read_text()
    for key, row in rows.items():
        line = next(x for x in text.splitlines() if x.startswith(f"| `{key}` |"))
        assert f"| {row['protocol']['crf']} |" in line and f"| {row['reported']:.2f} |" in line
    assert "## Upstream protocols" in text


def test_protocols_of_real_rows_agree_with_the_records(verify):
    """The CRF parameters, scales and image counts we print appear in the records' own protocol text."""
    rows = {r.key: r for r in verify.collect_rows()}
    drs = rows["drs_deeplabv2_resnet101_voc/segmentation/val/crf"]
    p = verify.describe_protocol(drs, verify.PROTOCOLS[(drs.name, drs.stage)])
    assert p["split"] == "val (1,449 images)" and p["crf"].startswith("on (deeplab: softmax unary")
    for fact in ("Gaussian sxy 1 compat 3", "bilateral sxy 67 srgb 3 compat 4", "10 iterations"):
        assert fact in p["crf"] and fact in drs.upstream_protocol
    assert "MSC 1, 0.5, 0.75" in p["scales"] and "(1, 0.5, 0.75)" in drs.upstream_protocol
    eps = rows["eps_voc/pseudo_mask/train"]
    p = verify.describe_protocol(eps, verify.PROTOCOLS[(eps.name, eps.stage)])
    assert p["scales"] == "cam: 0.5, 1, 1.5, 2 + flips"
    assert "scales (0.5, 1.0, 1.5, 2.0) + flips" in eps.upstream_protocol
    assert p["evaluator"].endswith("GT SegmentationClassAug") and "SegmentationClassAug" in eps.upstream_protocol
    seam = rows["sbnet_resnet38_voc/cam/train"]
    p = verify.describe_protocol(seam, verify.PROTOCOLS[(seam.name, seam.stage)])
    assert "best CAM background threshold of 60 from 0 to 0.59" in p["evaluator"] and "0.00..0.59" in \
        seam.upstream_protocol


def _one_class_seg_weights(path, cls):
    """Every pixel predicted ``cls``."""
    sd = {"standin_conv.weight": torch.zeros(21, 3, 1, 1), "standin_conv.bias": torch.full((21,), -10.0)}
    sd["standin_conv.bias"][cls] = 10.0
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path)


def test_seeds_report_mean_and_std_of_retrained_weights(verify, protocols, monkeypatch, voc_tree, tmp_path, capsys):
    fake = standin.fake_registry()
    fake["models"]["standin_seg_voc"]["train_recipe"] = "standin_seg_recipe"
    standin.use_registry(monkeypatch, fake)
    masks = [voc_tree.masks[i] for i in voc_tree.splits["val"]]
    n_valid = sum(int((m != 255).sum()) for m in masks)
    present = sorted(set().union(*(set(np.unique(m).tolist()) for m in masks)) - {0, 255})
    # kazuto convention (mean over GT-present classes): one class c everywhere -> IoU_c = N_c / N_valid, others 0
    expected = []
    for seed, cls in enumerate((0, present[0])):
        _one_class_seg_weights(tmp_path / "trained" / f"seed{seed}" / "standin_seg_voc.pth", cls)
        n_c = sum(int((m == cls).sum()) for m in masks)
        expected.append(round(100 * n_c / n_valid / (1 + len(present)), 2))
    argv = ["--voc-root", str(voc_tree.root), "--work-dir", str(tmp_path / "work"), "--only",
            "standin_seg_voc/segmentation/val", "--seeds", "2", "--trained-dir", str(tmp_path / "trained"),
            "--json", str(tmp_path / "r.json"), "--device", "cpu", "--no-progress", "--report", str(tmp_path / "html")]
    verify.main(argv)
    row = _rows(tmp_path / "r.json")["standin_seg_voc/segmentation/val"]
    assert row["seed_values"] == pytest.approx({"seed0": expected[0], "seed1": expected[1]}, abs=0.01)
    assert row["reproduced"] == pytest.approx(sum(expected) / 2, abs=0.01)
    assert row["std"] == pytest.approx(abs(expected[0] - expected[1]) / 2 ** 0.5, abs=0.01)  # sample std, n = 2
    assert f"{row['reproduced']:.2f} ± {row['std']:.2f}" in capsys.readouterr().out
    html = (tmp_path / "html" / "standin_seg_voc__segmentation__val.html").read_text()
    assert row["report"].endswith("standin_seg_voc__segmentation__val.html") and "seed0 (" in html and "seed1 (" in html
    # a seed that was never trained: the row says which command trains it
    argv[argv.index("2")] = "3"
    verify.main(argv)
    row = _rows(tmp_path / "r.json")["standin_seg_voc/segmentation/val"]
    assert row["status"] == "skipped" and "seed 2 not trained" in row["detail"]
    assert "training/run.py standin_seg_recipe --seed 2 --out " in row["detail"]


def test_training_commands_and_stage_chains(verify, tmp_path):
    sys.path.insert(0, str(ROOT))
    from training.run import parser

    rows = {r.key: r for r in verify.collect_rows()}
    eps = rows["eps_voc/pseudo_mask/train"]
    proto = verify.PROTOCOLS[(eps.name, eps.stage)]
    assert verify.training_recipes(eps, proto) == {"cam": ("eps_resnet38_voc", "eps_voc")}
    opts = verify.Options(voc_root="/data/VOC2012", train_args=("--iterations", "5"))
    cmd = verify.train_command("eps_voc", 3, tmp_path / "seed3", eps, opts)
    args = parser().parse_args(cmd[2:])          # what training/run.py itself understands
    assert (args.recipe, args.seed, args.out, str(args.voc_root), args.iterations) == \
        ("eps_voc", 3, tmp_path / "seed3", "/data/VOC2012", 5)
    assert verify._chain_inputs("eps_voc") == [] and verify._chain_inputs("cda_irn_edge_voc") == ["ir_labels"]
    irn = rows["cda_irn_voc/pseudo_mask/train"]
    opts = verify.Options(voc_root="/data/VOC2012", trained_dir=tmp_path, train=True)
    with pytest.raises(LookupError, match="stage chain of training/README.md"):
        verify.seed_weights(irn, verify.PROTOCOLS[(irn.name, irn.stage)], opts, 0)
    # what training/run.py writes is what verify.py looks for
    (tmp_path / "seed0").mkdir()
    (tmp_path / "seed0" / "eps_resnet38_voc.pth").write_bytes(b"x")
    assert verify.seed_weights(eps, proto, opts, 0) == {"cam": str(tmp_path / "seed0" / "eps_resnet38_voc.pth")}


def test_report_dir_writes_each_rows_report(verify, protocols, standin_registry, voc_tree, tmp_path):
    weights = standin.write_weights(tmp_path / "w")
    assert verify.main(["--voc-root", str(voc_tree.root), "--weights-dir", str(weights), "--work-dir",
                        str(tmp_path / "work"), "--only", "standin_seg_voc", "--limit", "1", "--report",
                        str(tmp_path / "html"), "--json", str(tmp_path / "r.json"), "--device", "cpu",
                        "--no-progress"]) == 0
    rows = _rows(tmp_path / "r.json")
    written = sorted(p.name for p in (tmp_path / "html").iterdir())
    assert written == ["standin_seg_voc__segmentation__val.html", "standin_seg_voc__segmentation__val__crf_.html"]
    both = (tmp_path / "html" / "standin_seg_voc__segmentation__val__crf_.html").read_text()
    assert "no crf vs crf" in both                                  # CRF not stated upstream: both, side by side
    assert rows["standin_seg_voc/segmentation/test"]["report"] == ""  # skipped rows have none

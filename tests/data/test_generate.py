"""Dataset-wide generation: outputs, resuming, CLI options, registry pipelines, torchrun sharding."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from standin import StandInPipeline, write_weights
from wsss_zoo.cli import main
from wsss_zoo.cli.options import weights_for
from wsss_zoo.data import generate as gen
from wsss_zoo.distributed import DistContext
from wsss_zoo.errors import InvalidImageError
from wsss_zoo.data import open_dataset, read_cam_npy, read_label_png
from wsss_zoo.registry import pipeline_entry

HERE = Path(__file__).resolve().parent


def _run(command, argv):
    """``wsss-zoo COMMAND ARGV`` in this process; returns its exit code."""
    return main([command] + argv)


def _expected_standin(tree, image_id):
    h, w = tree.sizes[image_id]
    out = np.zeros((h, w), np.uint8)
    out[:, : w // 2] = tree.labels[image_id][0]
    return out


def test_generate_writes_palette_pngs_and_manifest(voc_tree, tmp_path):
    ds = open_dataset("voc", voc_tree.root, "train")
    rep = gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path, progress=False)
    assert (rep.written, rep.skipped, rep.n_images) == (3, 0, 3)
    for image_id in ds.ids:
        expected = _expected_standin(voc_tree, image_id)
        np.testing.assert_array_equal(read_label_png(tmp_path / f"{image_id}.png"), expected)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["written"] == 3 and manifest["files"] == 3 and manifest["split"] == "train"


def test_resumed_generation_skips_finished_files_and_gives_same_files(voc_tree, tmp_path):
    ds = open_dataset("voc", voc_tree.root, "trainval")
    gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path / "a", progress=False)
    first = {p.name: p.read_bytes() for p in (tmp_path / "a").glob("*.png")}
    # simulate a run killed half-way: some files missing, a stale temp file left by the killed writer
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    victims = sorted(first)[:2]
    mtimes = {}
    for name in victims:
        (tmp_path / "b" / name).unlink()
    (tmp_path / "b" / f".{victims[0]}.abc.tmp.png").write_bytes(b"partial")
    for p in (tmp_path / "b").glob("2*.png"):
        mtimes[p.name] = p.stat().st_mtime_ns
    rep = gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path / "b", progress=False)
    assert (rep.written, rep.skipped) == (2, len(first) - 2)
    second = {p.name: p.read_bytes() for p in (tmp_path / "b").glob("*.png")}
    assert second == first  # the stale temp file is gone too
    for name, t in mtimes.items():
        assert (tmp_path / "b" / name).stat().st_mtime_ns == t  # untouched
    rep = gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path / "b", progress=False, overwrite=True)
    assert rep.written == len(first)


def test_run_with_factory_target_on_coco_rib(tmp_path):
    from fixtures.datasets import make_coco_tree

    tree = make_coco_tree(tmp_path / "coco", layout="rib")
    assert _run("pseudo-mask", ["standin:StandInPipeline", "--coco-root", str(tmp_path / "coco"), "--split", "train",
                                "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    for image_id in tree.splits["train"]:
        mask = read_label_png(tmp_path / "out" / f"{image_id}.png")
        if tree.labels[image_id]:
            np.testing.assert_array_equal(mask, _expected_standin(tree, image_id))
        else:  # class-less COCO image: all background, as RIB writes it
            assert not mask.any()


@pytest.mark.parametrize("fmt", ["auto", "irn"])
def test_cam_command_writes_cam_dicts(voc_tree, tmp_path, fmt):
    assert _run("cam", ["--pipeline", "standin:StandInPipeline", "--voc-root", str(voc_tree.root), "--split",
                        "val", "--out", str(tmp_path), "--cam-format", fmt, "--no-progress", "--limit", "1"]) == 0
    image_id = voc_tree.splits["val"][0]
    raw = np.load(tmp_path / f"{image_id}.npy", allow_pickle=True).item()
    assert ("keys" in raw) == (fmt == "irn")
    ids, cams = read_cam_npy(tmp_path / f"{image_id}.npy")
    assert ids.tolist() == voc_tree.labels[image_id] and cams.shape[1:] == voc_tree.sizes[image_id]
    assert len(list(tmp_path.glob("*.npy"))) == 1  # --limit 1


def test_registry_pipeline_with_local_weights(voc_tree, tmp_path, standin_registry):
    weights = write_weights(tmp_path / "w")
    assert _run("pseudo-mask", ["standin_voc", "--weights", f"cam={weights / 'standin_cam_voc.pth'}",
                                "--voc-root", str(voc_tree.root), "--split", "train", "--out",
                                str(tmp_path / "out"), "--no-progress", "--device", "cpu"]) == 0
    masks = [read_label_png(tmp_path / "out" / f"{i}.png") for i in voc_tree.splits["train"]]
    for image_id, mask in zip(voc_tree.splits["train"], masks):
        assert set(np.unique(mask).tolist()) <= {0, *voc_tree.labels[image_id]}
    # a pipeline's single role also accepts a plain path; a bad role is an error with exit code 2
    assert weights_for(pipeline_entry("standin_voc"), ["x.pth"]) == {"cam": "x.pth"}
    assert _run("pseudo-mask", ["standin_voc", "--weights", "irn=x.pth", "--voc-root", str(voc_tree.root),
                                "--split", "train", "--out", str(tmp_path / "o2")]) == 2


def test_errors_are_clear(voc_tree, tmp_path, capsys):
    assert _run("pseudo-mask", ["standin:StandInPipeline", "--voc-root", str(tmp_path), "--split", "train",
                                "--out", str(tmp_path / "o")]) == 2
    assert "JPEGImages" in capsys.readouterr().err
    assert _run("segment", ["--model", "no_such_model", "--voc-root", str(voc_tree.root), "--split", "val",
                            "--out", str(tmp_path / "o")]) == 2


def _torchrun():
    exe = Path(sys.executable).with_name("torchrun")
    return str(exe) if exe.exists() else shutil.which("torchrun")


def test_shards_of_two_ranks_cover_the_split_and_merge(voc_tree, tmp_path):
    """The sharding and manifest merge without processes: rank 1 then rank 0 of a world of 2."""
    ds = open_dataset("voc", voc_tree.root, "trainval")
    r1 = gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path, progress=False, dist=DistContext(1, 2))
    assert r1.n_images == len(ds.ids[1::2]) and not (tmp_path / "manifest.json").exists()
    merged = gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path, progress=False, dist=DistContext(0, 2))
    assert (merged.n_images, merged.written, merged.ranks) == (len(ds.ids), len(ds.ids), 2)
    assert sorted(p.stem for p in tmp_path.glob("2*.png")) == sorted(ds.ids)
    assert json.loads((tmp_path / "manifest.json").read_text())["written"] == len(ds.ids)


@pytest.mark.slow  # ~30 s on 2 busy cores: three interpreters import torch
@pytest.mark.skipif(_torchrun() is None, reason="torchrun not installed")
def test_torchrun_two_ranks_shard_and_merge(voc_tree, tmp_path):
    """Two CPU ranks (gloo) each write their shard; rank 0 merges the manifests."""
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    cmd = [_torchrun(), "--standalone", "--nproc-per-node", "2", "-m", "wsss_zoo", "pseudo-mask",
           "standin:StandInPipeline", "--voc-root", str(voc_tree.root), "--split", "trainval", "--out", str(out),
           "--no-progress"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ids = voc_tree.splits["trainval"]
    for image_id in ids:
        np.testing.assert_array_equal(read_label_png(out / f"{image_id}.png"), _expected_standin(voc_tree, image_id))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ranks"] == 2 and manifest["n_images"] == len(ids) and manifest["written"] == len(ids)
    assert not list(out.glob(".manifest.rank*"))


def test_manifests_replace_planted_symlinks(tmp_path):
    """The per-rank and merged manifests used fixed temp names (``.manifest.rank0.tmp``): a symlink planted
    there, or at manifest.json, was written through."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    out = tmp_path / "out"
    out.mkdir()
    for name in (".manifest.rank0.tmp", "manifest.json.tmp", gen.MANIFEST, ".manifest.rank0.json"):
        os.symlink(victim, out / name)
    report = gen.Report(command="pseudo-mask", target="t", dataset="voc", split="val", out_dir=str(out))
    gen._write_rank_manifest(out, report, DistContext(rank=0, world_size=1, local_rank=0))
    gen.merge_manifests(out, 1)
    assert victim.read_bytes() == b"precious"
    assert json.loads((out / gen.MANIFEST).read_text())["target"] == "t"
    assert not (out / gen.MANIFEST).is_symlink()


# --------------------------------------------------------------------------- resume correctness (issue 13)
def test_resume_recomputes_truncated_and_resized_files(voc_tree, tmp_path):
    """A truncated <id>.png (or one of another size) counted as done on resume; now only a file whose size
    is on record is skipped."""
    ds = open_dataset("voc", voc_tree.root, "trainval")
    gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path, progress=False)
    first = {p.name: p.read_bytes() for p in tmp_path.glob("*.png")}
    names = sorted(first)
    truncated, resized, kept = names[0], names[1], names[2:]
    (tmp_path / truncated).write_bytes(first[truncated][: len(first[truncated]) // 2])
    (tmp_path / resized).write_bytes(first[resized] + b"\0" * 7)  # a valid PNG prefix, another size
    mtimes = {n: (tmp_path / n).stat().st_mtime_ns for n in kept}
    rep = gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path, progress=False)
    assert (rep.written, rep.skipped) == (2, len(names) - 2)
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.png")} == first
    assert all((tmp_path / n).stat().st_mtime_ns == t for n, t in mtimes.items())
    completed = json.loads((tmp_path / "manifest.json").read_text())["completed"]
    assert completed == {n: len(b) for n, b in first.items()}


def test_files_not_on_record_are_computed(voc_tree, tmp_path):
    """A file that no run recorded (someone else's, a copy) is not taken as finished."""
    ds = open_dataset("voc", voc_tree.root, "train")
    planted = tmp_path / f"{ds.ids[0]}.png"
    tmp_path.mkdir(exist_ok=True)
    planted.write_bytes(b"not ours")
    rep = gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path, progress=False)
    assert (rep.written, rep.skipped) == (len(ds.ids), 0)
    np.testing.assert_array_equal(read_label_png(planted), _expected_standin(voc_tree, ds.ids[0]))


class _DiesAtThird(StandInPipeline):
    """Stands for a run killed part-way: a bug (not a per-image error) on the third image."""

    def __init__(self):
        self.calls = 0

    def pseudo_mask(self, image, labels, **kw):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("killed")
        return super().pseudo_mask(image, labels, **kw)


def test_a_killed_run_keeps_the_record_of_what_it_finished(voc_tree, tmp_path):
    ds = open_dataset("voc", voc_tree.root, "trainval")
    with pytest.raises(RuntimeError, match="killed"):
        gen.generate(ds, _DiesAtThird(), "pseudo-mask", tmp_path, progress=False)
    assert not (tmp_path / "manifest.json").exists()
    assert sorted(p.stem for p in tmp_path.glob("*.png")) == sorted(ds.ids[:2])  # computed before the kill
    journal = [json.loads(x) for x in (tmp_path / ".completed.rank0.jsonl").read_text().splitlines()]
    assert [j["file"] for j in journal] == [f"{i}.png" for i in ds.ids[:2]]
    rep = gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path, progress=False)
    assert (rep.written, rep.skipped) == (len(ds.ids) - 2, 2)
    assert not list(tmp_path.glob(".completed.rank*"))  # folded into the manifest
    assert len(json.loads((tmp_path / "manifest.json").read_text())["completed"]) == len(ds.ids)


def test_unreadable_records_mean_recompute(voc_tree, tmp_path):
    ds = open_dataset("voc", voc_tree.root, "train")
    gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path, progress=False)
    (tmp_path / "manifest.json").write_text('{"completed": {"../x.png": 3, "a.png": true}, "junk"')
    (tmp_path / ".completed.rank3.jsonl").write_text('{"file": 1}\n[\n{"file": "x.png", "size": -1}\n')
    rep = gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path, progress=False)
    assert (rep.written, rep.skipped) == (len(ds.ids), 0)


# --------------------------------------------------------------------------- loader workers, writer (issue 12)
@pytest.mark.parametrize("command", ["pseudo-mask", "cam"])
def test_outputs_do_not_depend_on_the_workers(voc_tree, tmp_path, command):
    ds = open_dataset("voc", voc_tree.root, "trainval")
    files = {}
    for workers in (0, 2):
        out = tmp_path / str(workers)
        rep = gen.generate(ds, StandInPipeline(), command, out, progress=False, workers=workers)
        assert rep.written == len(ds.ids) and rep.workers == workers
        files[workers] = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "manifest.json"}
    assert files[0] == files[2] and len(files[0]) == len(ds.ids)


def test_the_manifest_and_summary_carry_images_per_second(voc_tree, tmp_path):
    ds = open_dataset("voc", voc_tree.root, "trainval")
    rep = gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path, progress=False, workers=2)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["workers"] == 2 and manifest["seconds"] > 0
    assert manifest["images_per_s"] == pytest.approx(len(ds.ids) / manifest["seconds"], rel=1e-2)
    assert f"{rep.images_per_s:.2f} images/s" in rep.summary() and "2 loader workers" in rep.summary()


def _with_damaged_image(voc_tree, tmp_path):
    root = tmp_path / "voc"
    shutil.copytree(voc_tree.root, root)
    ds = open_dataset("voc", root, "trainval")
    victim = ds.ids[1]
    jpg = root / "JPEGImages" / f"{victim}.jpg"
    jpg.write_bytes(jpg.read_bytes()[:200])
    return ds, victim


def test_a_damaged_image_in_a_worker_is_reported_with_its_id(voc_tree, tmp_path):
    ds, victim = _with_damaged_image(voc_tree, tmp_path)
    rep = gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path / "out", progress=False, workers=2,
                       keep_going=True)
    assert list(rep.failed) == [victim] and "cannot read image" in rep.failed[victim]
    assert rep.written == len(ds.ids) - 1 and not (tmp_path / "out" / f"{victim}.png").exists()
    with pytest.raises(InvalidImageError, match=f"^{victim}: cannot read image"):
        gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path / "out2", progress=False, workers=2)


def test_workers_option(voc_tree, tmp_path, capsys):
    assert _run("pseudo-mask", ["standin:StandInPipeline", "--voc-root", str(voc_tree.root), "--split", "train",
                                "--out", str(tmp_path / "o"), "--workers", "0"]) == 0
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["workers"] == 0
    assert "images/s" in capsys.readouterr().out
    assert _run("pseudo-mask", ["standin:StandInPipeline", "--voc-root", str(voc_tree.root), "--split", "train",
                                "--out", str(tmp_path / "o2"), "--workers", "-1"]) == 2
    assert "workers must be a whole number" in capsys.readouterr().err


@pytest.mark.parametrize("environ", [{"RANK": "1"}, {"WORLD_SIZE": "abc"}])
def test_stray_distributed_variables_stop_generation(voc_tree, tmp_path, monkeypatch, capsys, environ):
    """A stray RANK=1 used to write ids[1::1]... with no manifest; WORLD_SIZE=abc a ValueError traceback."""
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert _run("pseudo-mask", ["standin:StandInPipeline", "--voc-root", str(voc_tree.root), "--split", "train",
                                "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert next(iter(environ)) in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_progress_bars_are_only_drawn_on_a_terminal(voc_tree, tmp_path, capsys):
    """``progress=True`` (the Python default) draws no bar into a log file or a pipe (stderr is not a tty)."""
    ds = open_dataset("voc", voc_tree.root, "train")
    gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path / "out", progress=True, workers=0)
    err = capsys.readouterr().err
    assert "%|" not in err and "img/s" not in err, err

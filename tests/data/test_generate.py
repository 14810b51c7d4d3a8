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
    r1 = gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path, progress=False, dist=gen.Dist(1, 2))
    assert r1.n_images == len(ds.ids[1::2]) and not (tmp_path / "manifest.json").exists()
    merged = gen.generate(ds, StandInPipeline(), "pseudo-mask", tmp_path, progress=False, dist=gen.Dist(0, 2))
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
    gen._write_rank_manifest(out, report, gen.Dist(rank=0, world=1, local_rank=0))
    gen.merge_manifests(out, 1)
    assert victim.read_bytes() == b"precious"
    assert json.loads((out / gen.MANIFEST).read_text())["target"] == "t"
    assert not (out / gen.MANIFEST).is_symlink()

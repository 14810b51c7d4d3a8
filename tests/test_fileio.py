"""Writes go to a fresh file next to the target, then replace it: no followed symlinks, no half files."""
import os

import numpy as np
import pytest
from PIL import Image

from wsss_zoo.errors import DatasetError, InvalidLabelsError
from wsss_zoo.fileio import (atomic_open, atomic_path, atomic_save_image, atomic_write, atomic_write_bytes,
                             atomic_write_text, open_append, read_text_utf8)


def _plant_link(target, victim):
    victim.write_bytes(b"precious")
    os.symlink(victim, target)


def _victim_intact(victim, target):
    assert victim.read_bytes() == b"precious"
    assert not target.is_symlink() and target.is_file()


def test_a_planted_symlink_is_replaced_not_followed(tmp_path):
    victim, target = tmp_path / "victim.txt", tmp_path / "out" / "x.png"
    target.parent.mkdir()
    _plant_link(target, victim)
    atomic_write_bytes(target, b"new")
    _victim_intact(victim, target)
    assert target.read_bytes() == b"new"


def test_a_planted_dangling_symlink_creates_nothing_at_its_target(tmp_path):
    target, elsewhere = tmp_path / "x.json", tmp_path / "elsewhere.json"
    os.symlink(elsewhere, target)
    atomic_write_text(target, "{}")
    assert not elsewhere.exists() and not target.is_symlink() and target.read_text() == "{}"


def test_images_are_saved_atomically(tmp_path):
    victim, target = tmp_path / "victim", tmp_path / "a.png"
    _plant_link(target, victim)
    atomic_save_image(Image.fromarray(np.full((3, 4), 7, np.uint8)), target)
    _victim_intact(victim, target)
    assert np.asarray(Image.open(target)).tolist() == np.full((3, 4), 7).tolist()


@pytest.mark.parametrize("how", ["exception", "half_written"])
def test_a_failed_write_leaves_neither_temp_nor_changed_target(tmp_path, how):
    target = tmp_path / "x.npy"
    target.write_bytes(b"old")

    def writer(f):
        f.write(b"half of the new")
        raise (OSError(28, "No space left on device") if how == "half_written" else RuntimeError("killed"))

    with pytest.raises((OSError, RuntimeError)):
        atomic_write(target, writer)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_a_failed_write_to_a_new_name_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_open(tmp_path / "new.png") as f:
            f.write(b"half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_for_writers_that_need_a_name(tmp_path):
    victim, target = tmp_path / "victim", tmp_path / "m.safetensors"
    _plant_link(target, victim)
    with atomic_path(target, ".safetensors") as tmp:
        tmp.write_bytes(b"tensors")
    _victim_intact(victim, target)
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"tensors" and sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "victim"]


def test_new_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o644


def test_logs_refuse_to_append_through_a_symlink(tmp_path):
    victim, log = tmp_path / "victim", tmp_path / "run.log"
    _plant_link(log, victim)
    with pytest.raises(OSError):
        open_append(log)
    assert victim.read_bytes() == b"precious"
    with open_append(tmp_path / "ok.log") as f:
        f.write("line\n")
    assert (tmp_path / "ok.log").read_text() == "line\n"


def test_invalid_utf8_names_the_line_and_byte(tmp_path):
    path = tmp_path / "list.txt"
    path.write_bytes(b"2007_000032\n2007_000039\ncaf\xe9 2\n")
    with pytest.raises(DatasetError, match=r"list\.txt:3: byte 0xe9 at offset 27 is not UTF-8"):
        read_text_utf8(path, DatasetError, "split list")
    path.write_bytes(b"\xef\xbb\xbfimg1 cat\n")  # a BOM from Windows editors is fine
    assert read_text_utf8(path, InvalidLabelsError) == "img1 cat\n"

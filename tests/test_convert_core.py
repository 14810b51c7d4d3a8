"""wsss_zoo.convert.core: safe reading, unwrapping, alias folding, strict loading, file sniffing."""
import argparse
from collections import OrderedDict

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from wsss_zoo.convert import core
from wsss_zoo.convert import (collapse_aliases, load_state_dict_strict, read_checkpoint, sniff_file,
                              unwrap_state_dict)
from wsss_zoo.errors import CheckpointFormatError, CheckpointMismatchError


def small_sd():
    g = torch.Generator().manual_seed(0)
    return OrderedDict([("conv.weight", torch.randn(4, 3, 3, 3, generator=g)),
                        ("conv.bias", torch.randn(4, generator=g))])


def assert_same(a, b):
    assert list(a) == list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.fixture
def only_weights_only_loads(monkeypatch):
    """Fail the test if anything calls torch.load without weights_only=True."""
    real = torch.load

    def guarded(*args, **kwargs):
        assert kwargs.get("weights_only") is True, "torch.load called without weights_only=True"
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", guarded)


# --------------------------------------------------------------------------- reading files
def test_numpy_float64_scalar_loads_weights_only(tmp_path, only_weights_only_loads):
    path = tmp_path / "best.pth"
    torch.save({"model": small_sd(), "miou": np.float64(0.7)}, path)
    obj = read_checkpoint(path)
    assert obj["miou"] == 0.7 and isinstance(obj["miou"], np.float64)
    assert_same(unwrap_state_dict(obj), small_sd())


def test_numpy_1x_scalar_global_spelling_loads(tmp_path, only_weights_only_loads):
    """numpy 1.x pickled scalars as ``numpy.core.multiarray.scalar`` (numpy 2: ``numpy._core``)."""
    path = tmp_path / "legacy.pth"
    torch.save({"model": small_sd(), "best_score": np.float64(0.25)}, path, _use_new_zipfile_serialization=False)
    raw = path.read_bytes()
    new_spelling = b"numpy._core.multiarray\nscalar\n"
    assert raw.count(new_spelling) == 1  # protocol-2 GLOBAL opcode: "module\nname\n"
    path.write_bytes(raw.replace(new_spelling, b"numpy.core.multiarray\nscalar\n"))
    assert b"numpy.core.multiarray\nscalar" in path.read_bytes()
    assert sniff_file(path) == "pickle"
    obj = read_checkpoint(path)
    assert obj["best_score"] == 0.25
    assert_same(unwrap_state_dict(obj), small_sd())
    with pytest.raises(CheckpointFormatError):
        read_checkpoint(path, allow_numpy_scalars=False)


class Custom:
    def __init__(self):
        self.value = 3


@pytest.mark.parametrize("extra", [argparse.Namespace(lr=0.1), Custom()], ids=["Namespace", "custom"])
def test_arbitrary_objects_are_refused(tmp_path, extra, only_weights_only_loads):
    path = tmp_path / "ckpt.pth"
    torch.save({"model": small_sd(), "args": extra}, path)
    with pytest.raises(CheckpointFormatError, match="refuses to unpickle") as err:
        read_checkpoint(path)
    assert type(extra).__name__ in str(err.value)


@pytest.mark.parametrize("page", [b"<!DOCTYPE html><html><title>Google Drive - Quota exceeded</title></html>",
                                  b"\n  <html><body>Sign in</body></html>"])
def test_html_file_is_refused(tmp_path, page):
    path = tmp_path / "model.pth"
    path.write_bytes(page)
    assert sniff_file(path) == "html"
    with pytest.raises(CheckpointFormatError, match="HTML page"):
        read_checkpoint(path)


@pytest.mark.parametrize("zipfile_format", [True, False], ids=["zip", "legacy"])
def test_truncated_files_are_refused(tmp_path, zipfile_format):
    full = tmp_path / "full.pth"
    torch.save({"model": small_sd(), "miou": np.float64(0.5)}, full, _use_new_zipfile_serialization=zipfile_format)
    raw = full.read_bytes()
    cut = tmp_path / "cut.pth"
    for n in sorted({1, 2, 16, 64, len(raw) // 3, len(raw) // 2, len(raw) - 100, len(raw) - 1}):
        cut.write_bytes(raw[:n])
        with pytest.raises(CheckpointFormatError):
            read_checkpoint(cut)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    assert sniff_file(empty) == "empty"
    with pytest.raises(CheckpointFormatError, match="empty"):
        read_checkpoint(empty)
    with pytest.raises(CheckpointFormatError, match="not found"):
        read_checkpoint(tmp_path / "nope.pth")


def test_safetensors_files_load(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file(small_sd(), str(path))
    assert sniff_file(path) == "safetensors"
    assert_same(OrderedDict(sorted(read_checkpoint(path).items())), OrderedDict(sorted(small_sd().items())))


def test_sniff_file_kinds(tmp_path):
    def kind(name, data):
        p = tmp_path / name
        p.write_bytes(data)
        return sniff_file(p)

    zip_path, legacy_path = tmp_path / "z.pth", tmp_path / "l.pth"
    torch.save(small_sd(), zip_path)
    torch.save(small_sd(), legacy_path, _use_new_zipfile_serialization=False)
    assert sniff_file(zip_path) == "zip"
    assert sniff_file(legacy_path) == "pickle"
    assert kind("m.params", (0x112).to_bytes(8, "little") + bytes(64)) == "mxnet"
    assert kind("u.bin", b"just some text, no checkpoint") == "unknown"
    assert kind("h.pth", b"<!doctype html>") == "html"


# --------------------------------------------------------------------------- unwrapping
@pytest.mark.parametrize("wrap", [
    lambda sd: sd,
    lambda sd: {"model": sd, "epoch": 3},
    lambda sd: {"model_state": sd, "optimizer_state": {"lr": 0.1}, "best_score": np.float64(0.6)},
    lambda sd: {"state_dict": sd},
    lambda sd: {"state_dict": {"model": sd}},
    lambda sd: {"model": "resnet", "state_dict": sd},
], ids=["raw", "model", "model_state", "state_dict", "nested", "non-mapping-model-key"])
@pytest.mark.parametrize("prefix", ["", "module."])
def test_unwrap_state_dict(wrap, prefix):
    sd = OrderedDict((prefix + k, v) for k, v in small_sd().items())
    assert_same(unwrap_state_dict(wrap(sd)), small_sd())


def test_unwrap_keeps_module_when_not_every_key_has_it():
    sd = OrderedDict([("module.a", torch.zeros(1)), ("b", torch.ones(1))])
    assert list(unwrap_state_dict(sd)) == ["module.a", "b"]


@pytest.mark.parametrize("obj", [[torch.zeros(1)], {"epoch": 3, "name": "x"}, {}], ids=["list", "no-tensors", "empty"])
def test_unwrap_refuses_non_state_dicts(obj):
    with pytest.raises(CheckpointFormatError, match="no state dict"):
        unwrap_state_dict(obj)


# --------------------------------------------------------------------------- aliases
def test_collapse_aliases_folds_equal_copies_and_renames_lone_aliases():
    w, b = torch.randn(2, 2), torch.randn(2)
    sd = OrderedDict([("fc8.weight", w), ("classifier.weight", w.clone()), ("head_alias.bias", b)])
    out = collapse_aliases(sd, [("classifier.", "fc8."), ("head_alias.", "head.")])
    assert sorted(out) == ["fc8.weight", "head.bias"]
    assert torch.equal(out["fc8.weight"], w) and torch.equal(out["head.bias"], b)


@pytest.mark.parametrize("other", [lambda w: w + 1, lambda w: w[:1]], ids=["values", "shape"])
def test_collapse_aliases_refuses_unequal_copies(other):
    w = torch.randn(2, 2)
    sd = OrderedDict([("fc8.weight", w), ("classifier.weight", other(w))])
    with pytest.raises(CheckpointFormatError, match="classifier.weight"):
        collapse_aliases(sd, [("classifier.", "fc8.")])
    assert list(collapse_aliases(sd, [("classifier.", "fc8.")], check_equal=False)) == ["fc8.weight"]


# --------------------------------------------------------------------------- strict loading
def small_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))


def test_strict_load_ignores_num_batches_tracked_both_ways():
    net = small_net()
    sd = {k: torch.full_like(v, 2) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    load_state_dict_strict(net, sd)
    assert torch.equal(net[0].weight, torch.full_like(net[0].weight, 2))
    extra = dict(sd, **{"9.num_batches_tracked": torch.tensor(5)})  # counter of a layer we do not have
    load_state_dict_strict(small_net(), extra)


def test_strict_load_names_missing_unexpected_and_mismatched_keys():
    net = small_net()
    sd = dict(net.state_dict())
    del sd["1.running_var"]
    sd["stray.weight"] = torch.zeros(1)
    sd["0.bias"] = torch.zeros(5)
    with pytest.raises(CheckpointMismatchError) as err:
        load_state_dict_strict(net, sd, name="toy net")
    e = err.value
    assert e.missing == ["1.running_var"] and e.unexpected == ["stray.weight"]
    assert len(e.mismatched) == 1 and "0.bias" in e.mismatched[0]
    msg = str(e)
    for word in ("toy net", "1.running_var", "stray.weight", "0.bias", "(5,)", "(4,)"):
        assert word in msg
    assert "num_batches_tracked" not in msg


# --------------------------------------------------------------------------- damaged safetensors
def _safetensors_bytes():
    from safetensors.torch import save

    return save(small_sd())


def _with_header(header: dict, data: bytes = b"") -> bytes:
    import json

    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data


def _damaged_safetensors(kind: str) -> bytes:
    good = _safetensors_bytes()
    n = int.from_bytes(good[:8], "little")
    entry = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
    return {
        "truncated_data": good[:-20],
        "header_longer_than_file": (len(good) * 4).to_bytes(8, "little") + good[8:],
        "absurd_header_length": (2 ** 63).to_bytes(8, "little") + good[8:],
        "header_not_json": n.to_bytes(8, "little") + b"{" + b"x" * (n - 1) + good[8 + n:],
        "header_not_utf8": (4).to_bytes(8, "little") + b"{\xff\xfe}" + bytes(16),
        "entry_not_an_object": (8).to_bytes(8, "little") + b"{\"a\": 1}" + bytes(16),
        "offsets_past_the_data": _with_header({"w": dict(entry, data_offsets=[0, 1 << 40])}, bytes(16)),
        "negative_offsets": _with_header({"w": dict(entry, data_offsets=[-16, 0])}, bytes(16)),
        "shape_not_filling_offsets": _with_header({"w": dict(entry, shape=[1000, 1000])}, bytes(16)),
        "unknown_dtype": _with_header({"w": dict(entry, dtype="Q7")}, bytes(16)),
        "only_the_length": (100).to_bytes(8, "little") + b"{",
        "garbage_after_brace": (40).to_bytes(8, "little") + b"{" + bytes(39) + bytes(16),
    }[kind]


DAMAGE = ["truncated_data", "header_longer_than_file", "absurd_header_length", "header_not_json", "header_not_utf8",
          "entry_not_an_object", "offsets_past_the_data", "negative_offsets", "shape_not_filling_offsets", "unknown_dtype",
          "only_the_length", "garbage_after_brace"]


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_safetensors_are_refused_before_the_library_reads_them(tmp_path, kind):
    path = tmp_path / "model.safetensors"
    path.write_bytes(_damaged_safetensors(kind))
    assert sniff_file(path) == "safetensors"
    with pytest.raises(CheckpointFormatError, match=r"model\.safetensors is not a valid safetensors file"):
        read_checkpoint(path)


@pytest.mark.parametrize("kind", ["truncated_data", "offsets_past_the_data"])
def test_damaged_safetensors_through_load_and_convert(tmp_path, kind):
    """``wsss_zoo.load(name, weights=...)`` and ``wsss-zoo convert`` read the file through read_checkpoint."""
    import wsss_zoo
    from wsss_zoo import publish

    path = tmp_path / "model.safetensors"
    path.write_bytes(_damaged_safetensors(kind))
    with pytest.raises(CheckpointFormatError, match="not a valid safetensors"):
        wsss_zoo.load("drs_vgg16_voc", weights=path)
    with pytest.raises(CheckpointFormatError, match="not a valid safetensors"):
        publish.convert_file(path, "drs_vgg16_voc", tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_valid_safetensors_with_metadata_and_empty_tensors_still_load(tmp_path):
    sd = dict(small_sd(), empty=torch.zeros(0, 3), flag=torch.tensor([True, False]), half=torch.ones(2).half())
    path = tmp_path / "ok.safetensors"
    save_file(sd, str(path), metadata={"format": "pt"})
    out = read_checkpoint(path)
    assert sorted(out) == sorted(sd) and all(torch.equal(out[k], sd[k]) for k in sd)


# --------------------------------------------------------------------------- tensor dtypes and values
@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8, torch.int64, torch.bool])
def test_integer_or_boolean_tensors_for_float_parameters_are_refused(dtype):
    """They used to be cast on load: int8 weights of a quantised export became near-zero floats, silently."""
    net = small_net()
    sd = dict(net.state_dict())
    sd["0.weight"] = sd["0.weight"].mul(10).to(dtype)
    with pytest.raises(CheckpointMismatchError, match=r"integer or boolean tensors for float parameters \(1\)") as err:
        load_state_dict_strict(net, sd, name="toy net")
    assert f"0.weight: file {str(dtype).replace('torch.', '')} vs network float32" in str(err.value)


def test_half_precision_files_still_load_into_float_networks():
    net = small_net()
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in net.state_dict().items()}
    load_state_dict_strict(small_net(), sd)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused_naming_the_keys(bad):
    net = small_net()
    sd = dict(net.state_dict())
    sd["0.weight"] = sd["0.weight"].clone()
    sd["0.weight"][0, 0, 0, 0] = bad
    sd["1.running_var"] = sd["1.running_var"].clone().fill_(bad)
    before = net[0].weight.detach().clone()
    with pytest.raises(CheckpointFormatError, match=r"NaN or infinite values in 2 tensor\(s\): 0\.weight, 1\.running_var"):
        load_state_dict_strict(net, sd, name="toy net")
    assert torch.equal(net[0].weight, before)  # nothing was loaded

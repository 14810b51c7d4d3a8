"""Reading MXNet ``.params`` files without MXNet, on files written byte by byte in the NDArray-list format."""
import struct

import numpy as np
import pytest
import torch

from fixtures.resnet38_layouts import ademxapp_name, backbone_table, write_mxnet_params, write_resnet38_imagenet
from wsss_zoo.convert import read_checkpoint, sniff_file
from wsss_zoo.convert.mxnet import mxnet_to_torch_key, read_mxnet_params, read_ndarray_list
from wsss_zoo.errors import CheckpointFormatError


@pytest.mark.parametrize("version", ["v2", "v3", "v1", "legacy"])
def test_ndarray_list_round_trip(tmp_path, version):
    rng = np.random.default_rng(0)
    arrays = {
        "arg:conv1a_weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "aux:bn7_moving_var": rng.random(5).astype(np.float32),
        "arg:x_f64": rng.standard_normal((2, 3)),
        "arg:x_int": np.arange(6, dtype=np.int32).reshape(3, 2),
        "arg:x_f16": np.ones((2, 2), np.float16),
    }
    path = write_mxnet_params(tmp_path / "a.params", arrays, version)
    assert sniff_file(path) == "mxnet"
    out = read_ndarray_list(path)
    assert list(out) == list(arrays)
    for k, v in arrays.items():
        assert out[k].dtype == v.dtype and np.array_equal(out[k], v)


def test_handwritten_bytes_of_one_array(tmp_path):
    """Header 0x112, V2 record (magic, dense stype, int32 ndim + int64 dims, cpu context, float32 flag), names."""
    data = np.array([[1.5, -2.0, 3.25]], np.float32)
    blob = struct.pack("<QQQ", 0x112, 0, 1)
    blob += struct.pack("<IiiqqiiI", 0xF993FAC9, 0, 2, 1, 3, 1, 0, 0) + data.tobytes()
    blob += struct.pack("<QQ", 1, 12) + b"arg:bn7_beta"
    (tmp_path / "one.params").write_bytes(blob)
    out = read_ndarray_list(tmp_path / "one.params")
    assert list(out) == ["arg:bn7_beta"] and np.array_equal(out["arg:bn7_beta"], data)
    assert torch.equal(read_mxnet_params(tmp_path / "one.params")["bn7.bias"], torch.from_numpy(data))


def test_truncated_or_foreign_files_raise(tmp_path):
    arrays = {"arg:conv1a_weight": np.zeros((64, 3, 3, 3), np.float32)}
    path = write_mxnet_params(tmp_path / "a.params", arrays)
    (tmp_path / "cut.params").write_bytes(path.read_bytes()[:500])
    with pytest.raises(CheckpointFormatError, match="truncated"):
        read_checkpoint(tmp_path / "cut.params")
    bad = write_mxnet_params(tmp_path / "b.params", {"arg:fc_weight": np.zeros(2, np.float32)})
    with pytest.raises(CheckpointFormatError, match="ResNet-38"):
        read_mxnet_params(bad)


@pytest.mark.parametrize("mx,torch_key", [
    ("arg:conv1a_weight", "conv1a.weight"),
    ("arg:res4b5_branch2a_weight", "b4_5.conv_branch2a.weight"),
    ("arg:res5a_branch1_weight", "b5.conv_branch1.weight"),
    ("arg:res7a_branch2b2_weight", "b7.conv_branch2b2.weight"),
    ("aux:bn5b1_branch2a_moving_var", "b5_1.bn_branch2a.running_var"),
    ("aux:bn2a_branch2b1_moving_mean", "b2.bn_branch2b1.running_mean"),
    ("arg:bn3b2_branch2a_gamma", "b3_2.bn_branch2a.weight"),
    ("arg:bn6a_branch2b2_beta", "b6.bn_branch2b2.bias"),
    ("arg:bn7_gamma", "bn7.weight"),
    ("aux:bn7_moving_mean", "bn7.running_mean"),
    ("bn7_beta", "bn7.bias"),
    ("arg:linear1000_weight", None),
    ("arg:linear1000_bias", None),
])
def test_upstream_renaming_rule(mx, torch_key):
    assert mxnet_to_torch_key(mx) == torch_key


def test_ademxapp_names_map_onto_the_whole_backbone():
    names = [ademxapp_name(k) for k, _, kind in backbone_table() if kind != "count"]
    assert len(names) == 191 and len(set(names)) == 191
    mapped = [mxnet_to_torch_key(n) for n in names + ["arg:linear1000_weight", "arg:linear1000_bias"]]
    assert [m for m in mapped if m is not None] == [k for k, _, kind in backbone_table() if kind != "count"]


def test_resnet38_imagenet_loads_from_params(tmp_path):
    import wsss_zoo

    path, expected = write_resnet38_imagenet(tmp_path / "ilsvrc-cls_rna-a1_cls1000_ep-0001.params", seed=3)
    sd = read_checkpoint(path)
    assert len(sd) == 191 and "linear1000_weight" not in sd
    model = wsss_zoo.load("resnet38_imagenet", weights=path)
    own = model.state_dict()
    assert all(torch.equal(own[k], torch.from_numpy(v)) for k, v in expected.items())
    assert not model.training



# --------------------------------------------------------------------------- crafted files
def _file(records: bytes, count: int, names=(b"arg:bn7_beta",)) -> bytes:
    blob = struct.pack("<QQQ", 0x112, 0, count) + records
    blob += struct.pack("<Q", len(names)) + b"".join(struct.pack("<Q", len(n)) + n for n in names)
    return blob


def _v2_record(shape, data: bytes = b"", type_flag: int = 0, ndim=None) -> bytes:
    ndim = len(shape) if ndim is None else ndim
    return (struct.pack("<Iii", 0xF993FAC9, 0, ndim) + struct.pack(f"<{len(shape)}q", *shape)
            + struct.pack("<iii", 1, 0, type_flag) + data)


CRAFTED = {
    # dims whose product wraps around int64 to 0: nothing to read, then an impossible reshape
    "product_overflows": _file(_v2_record((2 ** 62, 4)), 1),
    # negative dims whose product is positive (-1 x -3 = 3 floats)
    "negative_dims": _file(_v2_record((-1, -3), bytes(12)), 1),
    # a 1 TB array in a 100-byte file
    "larger_than_file": _file(_v2_record((1 << 38,), bytes(8)), 1),
    "huge_ndim": _file(struct.pack("<Iii", 0xF993FAC9, 0, 2 ** 31 - 1), 1),
    "negative_ndim": _file(struct.pack("<Iii", 0xF993FAC9, 0, -7) + bytes(64), 1),
    "name_not_utf8": _file(_v2_record((1,), bytes(4)), 1, names=(b"arg:\xff\xfe\x80",)),
    "name_longer_than_file": _file(_v2_record((1,), bytes(4)), 1, names=())[:-8] + struct.pack("<QQ", 1, 1 << 60),
    "truncated_data": _file(_v2_record((64, 3, 3, 3), bytes(100)), 1)[:140],
    "count_larger_than_file": struct.pack("<QQQ", 0x112, 0, 1 << 60) + bytes(40),
    "repeated_names": _file(_v2_record((1,), bytes(4)) * 2, 2, names=(b"arg:bn7_beta", b"arg:bn7_beta")),
}


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_crafted_params_files_are_refused_clearly(tmp_path, kind):
    """Every size read from the file is checked before anything is allocated or reshaped: never a
    MemoryError, ValueError or UnicodeDecodeError traceback."""
    path = tmp_path / "evil.params"
    path.write_bytes(CRAFTED[kind])
    assert sniff_file(path) == "mxnet"
    with pytest.raises(CheckpointFormatError, match=r"evil\.params"):
        read_checkpoint(path)

"""``.npy`` files from outside: upstream pickled dicts load; pickles that would run code are refused."""
import collections
import pickle
import pickletools

import numpy as np
import pytest
import torch

from fixtures.hostile import Payload, malicious_npy
from wsss_zoo.errors import DatasetError, InvalidLabelsError
from wsss_zoo.safe_pickle import load_npy, load_npy_dict, restricted_loads


@pytest.mark.parametrize("kind", ["os.system", "open", "exec"])
def test_a_payload_is_refused_and_never_runs(tmp_path, kind):
    marker = tmp_path / "marker"
    path = malicious_npy(tmp_path / "evil.npy", marker, kind)
    with pytest.raises(DatasetError, match=r"evil\.npy was refused: its pickled data refers to \S+") as info:
        load_npy(path)
    assert not marker.exists()
    assert "run code" in str(info.value)
    with pytest.raises(InvalidLabelsError):  # the caller's error class
        load_npy_dict(path, error=InvalidLabelsError, what="labels file")
    assert not marker.exists()


def test_a_bare_pickle_under_an_npy_name_is_refused_too(tmp_path):
    marker = tmp_path / "marker"
    (tmp_path / "bare.npy").write_bytes(pickle.dumps({"a": Payload(open, str(marker), "w")}))
    with pytest.raises(DatasetError, match="refused"):
        load_npy(tmp_path / "bare.npy")
    assert not marker.exists()


def _upstream_dicts():
    rng = np.random.default_rng(0)
    return {
        # PSA/SEAM/EPS cls_labels.npy: {image id: float32 multi-hot}
        "cls_labels": {"2007_000032": np.eye(20, dtype=np.float32)[0], "2007_000039": np.eye(20, dtype=np.float32)[19]},
        # IRN/RIB cls_labels.npy: integer keys
        "irn_cls_labels": {2007000032: np.eye(20, dtype=np.float32)[0], 2007000039: np.eye(20, dtype=np.float32)[3]},
        # PSA-style CAM dict {fg index: HxW}
        "psa_cam": {0: rng.random((5, 7)).astype(np.float32), 14: rng.random((5, 7)).astype(np.float32)},
        # IRN make_cam.py: torch keys and stride-4 cam, numpy high_res
        "irn_cam": {"keys": torch.tensor([6, 14]), "cam": torch.rand(2, 3, 4),
                    "high_res": rng.random((2, 9, 11)).astype(np.float32)},
        # numpy scalars and assorted values (DRS/VainF wrappers pickle np.float64 scores)
        "scalars": {"miou": np.float64(0.7125), "epoch": np.int64(30), "flag": np.bool_(True), "name": "x",
                    "shape": (3, 4), "none": None, "ids": [1, 2], "f16": np.float16(0.5), "empty": np.zeros(0)},
    }


def _assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b)
    else:
        assert a == b


@pytest.mark.parametrize("name", sorted(_upstream_dicts()))
def test_upstream_dict_files_load_as_np_load_does(tmp_path, name):
    path = tmp_path / f"{name}.npy"
    np.save(path, _upstream_dicts()[name], allow_pickle=True)
    expected = np.load(path, allow_pickle=True).item()  # trusted here: we just wrote it
    _assert_same(load_npy_dict(path), expected)
    _assert_same(load_npy_dict(path), _upstream_dicts()[name] if name != "irn_cam" else expected)


@pytest.mark.parametrize("spelling", ["numpy.core", "numpy._core"])
def test_both_numpy_pickle_spellings_load(tmp_path, spelling):
    """numpy < 2 pickles arrays as ``numpy.core.multiarray._reconstruct``, numpy >= 2 as ``numpy._core...``.

    The file is an object-array ``.npy`` whose pickle (protocol 2: text GLOBAL opcodes) is rewritten
    to the spelling under test.
    """
    from numpy.lib import format as npformat

    data = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.float64(2.5), "i": np.int64(7)}
    obj = np.empty((), dtype=object)
    obj[()] = data
    payload = pickle.dumps(obj, protocol=2)
    for current in (b"numpy._core.multiarray", b"numpy.core.multiarray"):
        payload = payload.replace(b"c" + current + b"\n", b"c" + spelling.encode() + b".multiarray\n")
    globals_used = {arg for op, arg, _ in pickletools.genops(payload) if op.name == "GLOBAL"}
    assert f"{spelling}.multiarray _reconstruct" in globals_used and f"{spelling}.multiarray scalar" in globals_used
    path = tmp_path / "x.npy"
    with open(path, "wb") as f:
        npformat.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": ()})
        f.write(payload)
    _assert_same(load_npy_dict(path), data)


@pytest.mark.parametrize("protocol", [0, 2, 3, 4, 5])
def test_every_pickle_protocol_of_arrays_and_tensors(protocol):
    data = {"a": np.arange(4.0), "t": torch.arange(3), "b": b"", "set": {1, 2}, "c": 1 + 2j}
    _assert_same(restricted_loads(pickle.dumps(data, protocol=protocol)), data)


def test_plain_arrays_load_without_pickle(tmp_path):
    arr = np.arange(12, dtype=np.int16).reshape(3, 4)
    np.save(tmp_path / "a.npy", arr)
    out = load_npy(tmp_path / "a.npy")
    assert out.dtype == np.int16 and np.array_equal(out, arr)


@pytest.mark.parametrize("damage", ["truncated_object", "truncated_plain", "not_npy", "huge_header_shape", "empty"])
def test_damaged_files_are_refused_clearly(tmp_path, damage):
    path = tmp_path / "d.npy"
    if damage == "truncated_object":
        np.save(path, {"a": np.zeros((50, 50))}, allow_pickle=True)
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "truncated_plain":
        np.save(path, np.zeros((50, 50)))
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "not_npy":
        path.write_bytes(b"<html>not found</html>")
    elif damage == "huge_header_shape":  # a 200-byte file whose header announces 8 TB of float64
        from numpy.lib import format as npformat

        with open(path, "wb") as f:
            npformat.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (10 ** 12,)})
            f.write(b"\0" * 24)
    else:
        path.write_bytes(b"")
    with pytest.raises(DatasetError, match=r"d\.npy"):
        load_npy(path)


@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")
def test_arrays_claiming_more_memory_than_the_file_are_refused():
    """A crafted pickle can call numpy's allowed constructors with huge shapes; nothing gets allocated."""
    try:
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover
        from numpy.core import multiarray
    base = torch.zeros(1)
    crafted = [
        Payload(multiarray._reconstruct, np.ndarray, (10 ** 9,), np.dtype(object)),  # would fill 8 GB
        Payload(np.ndarray, (10 ** 10,), "f8", b"12345678", 0, (0,)),  # zero-stride view
        Payload(torch._utils._rebuild_tensor_v2,  # a 4 GB view of a 4-byte storage
                base.storage(), 0, (10 ** 9,), (0,), False, collections.OrderedDict()),
    ]
    for obj in crafted:
        with pytest.raises(ValueError, match="claims"):
            restricted_loads(pickle.dumps(obj, protocol=2))


def test_only_latin1_codec_for_protocol2_bytes():
    import _codecs

    with pytest.raises(pickle.UnpicklingError, match="codec"):
        restricted_loads(pickle.dumps(Payload(_codecs.encode, "x", "rot13"), protocol=2))

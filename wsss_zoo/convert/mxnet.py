"""Read MXNet NDArray-list files (``mx.nd.save``) in numpy, and rename ademxapp ResNet-38 keys.

File layout (apache/mxnet ``src/ndarray/ndarray.cc`` ``NDArray::Save``/``Load``, dmlc-core serializer),
all little-endian:

* header: uint64 ``0x112`` (kMXAPINDArrayListMagic), uint64 reserved;
* uint64 count, then each array:
  - uint32 magic: ``0xF993FACA`` (V3), ``0xF993FAC9`` (V2: + int32 storage type), ``0xF993FAC8`` (V1),
    or, in files older than V1, the number of dimensions itself;
  - shape: V1/V2/V3 -> int32 ndim + ndim x int64; legacy -> ndim x uint32 (ndim was the magic);
    an empty shape ends the record;
  - context: int32 device type, int32 device id;
  - int32 type flag (mshadow: 0 float32, 1 float64, 2 float16, 3 uint8, 4 int32, 5 int8, 6 int64, 7 bool);
  - the raw C-order data;
* uint64 count of names, then each name as uint64 length + bytes (``arg:``/``aux:`` prefixes).

Sparse (row_sparse / csr) arrays are refused: ResNet-38 weights are dense.
"""
from __future__ import annotations

import math
import re
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Dict

import numpy as np
import torch

from ..errors import CheckpointFormatError

LIST_MAGIC = 0x112
V1_MAGIC, V2_MAGIC, V3_MAGIC = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
DTYPES = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8, 4: np.int32, 5: np.int8, 6: np.int64, 7: np.bool_}


MAX_NDIM = 32  # MXNet's own limit on dimensions (mshadow kMaxDim-era files never exceed it)


class _Reader:
    def __init__(self, data: bytes, path):
        self.data, self.pos, self.path = memoryview(data), 0, path

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def fail(self, reason: str) -> CheckpointFormatError:
        return CheckpointFormatError(f"{self.path} is not a valid MXNet .params file ({reason}, at byte "
                                     f"{self.pos}); it is truncated or damaged: download it again")

    def take(self, n: int) -> memoryview:
        if n < 0 or n > self.remaining:
            raise self.fail(f"needed {n} bytes, {self.remaining} left")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def count(self, min_record: int, what: str) -> int:
        """A uint64 count of records, each at least ``min_record`` bytes long: no more than fit the file."""
        (n,) = self.unpack("Q")
        if n > self.remaining // min_record:
            raise self.fail(f"{n} {what} cannot fit the {self.remaining} bytes left")
        return n


def _read_array(r: _Reader) -> np.ndarray:
    (magic,) = r.unpack("I")
    if magic in (V1_MAGIC, V2_MAGIC, V3_MAGIC):
        if magic != V1_MAGIC:
            (stype,) = r.unpack("i")
            if stype not in (0, -1):
                raise CheckpointFormatError(f"{r.path}: sparse NDArray (storage type {stype}) is not supported")
        (ndim,) = r.unpack("i")
        if ndim in (0, -1):  # a "none" array (0; -1: unknown shape in numpy-shape files) ends the record
            return np.zeros((0,), np.float32)
        if not 0 < ndim <= MAX_NDIM:
            raise r.fail(f"an array has {ndim} dimensions")
        shape = r.unpack(f"{ndim}q")
    else:  # legacy: the magic is ndim, dims are uint32
        ndim = magic
        if ndim > MAX_NDIM:
            raise r.fail(f"not an MXNet NDArray record (bad magic {magic:#x})")
        if ndim == 0:
            return np.zeros((0,), np.float32)
        shape = r.unpack(f"{ndim}I")
    if any(d < 0 for d in shape):
        raise r.fail(f"an array has a negative dimension in shape {shape}")
    r.unpack("ii")  # context (device type, id): the data is stored on CPU layout either way
    (type_flag,) = r.unpack("i")
    if type_flag not in DTYPES:
        raise CheckpointFormatError(f"{r.path}: unsupported NDArray type flag {type_flag}")
    dtype = np.dtype(DTYPES[type_flag]).newbyteorder("<")
    count = math.prod(shape)  # Python integers: no overflow; take() refuses more bytes than are left
    arr = np.frombuffer(r.take(count * dtype.itemsize), dtype=dtype, count=count)
    return arr.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def read_ndarray_list(path) -> "OrderedDict[str, np.ndarray]":
    """All arrays of an ``mx.nd.save`` file, by saved name (``arg:``/``aux:`` prefixes kept).

    Every size read from the file is checked against the bytes that are left before anything is
    allocated, so crafted or truncated files raise :class:`CheckpointFormatError`.
    """
    path = Path(path)
    r = _Reader(path.read_bytes(), path)
    header, _reserved = r.unpack("QQ")
    if header != LIST_MAGIC:
        raise CheckpointFormatError(f"{path} is not an MXNet NDArray file (header {header:#x}, expected 0x112)")
    count = r.count(4, "arrays")
    arrays = [_read_array(r) for _ in range(count)]
    n_names = r.count(8, "names")
    names = []
    for i in range(n_names):
        raw = bytes(r.take(r.count(1, "name bytes")))
        try:
            names.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise r.fail(f"array name {i} is not UTF-8 text ({raw[:40]!r})") from None
    if n_names == 0:
        names = [str(i) for i in range(count)]
    if len(names) != count:
        raise CheckpointFormatError(f"{path}: {count} arrays but {n_names} names")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise r.fail(f"repeated array names {dup[:5]}")
    return OrderedDict(zip(names, arrays))


_BN_SUFFIX = {"gamma": "weight", "beta": "bias", "mean": "running_mean", "var": "running_var"}
_BLOCK_PARAM = re.compile(r"^(?:(?:arg|aux):)?(res|bn)(\d)(a|b\d)_(branch\w+?)_(weight|gamma|beta|moving_mean|moving_var)$")
_BN7_PARAM = re.compile(r"^(?:(?:arg|aux):)?bn7_(gamma|beta|moving_mean|moving_var)$")


def mxnet_to_torch_key(name: str):
    """PyTorch key of an ademxapp ResNet-38 parameter name (PSA ``convert_mxnet_to_torch`` rule); None to drop.

    ``conv1a_weight`` -> ``conv1a.weight``; ``res4b5_branch2a_weight`` -> ``b4_5.conv_branch2a.weight``;
    ``bn5a_branch2b1_moving_var`` -> ``b5.bn_branch2b1.running_var``; ``bn7_gamma`` -> ``bn7.weight``;
    ``linear1000_*`` (the ImageNet classifier) is dropped. An ``arg:``/``aux:`` prefix is ignored.
    """
    head = name.split("_")[0]
    if "conv1a" in head:
        return "conv1a.weight"
    if "linear1000" in head:
        return None
    m = _BLOCK_PARAM.match(name)
    if m:
        kind, level, block, branch, param = m.groups()
        block_name = f"b{level}" if block == "a" else f"b{level}_{block[1:]}"
        if kind == "res":
            if param != "weight":
                raise CheckpointFormatError(f"unexpected MXNet conv parameter {name!r}")
            return f"{block_name}.conv_{branch}.weight"
        return f"{block_name}.bn_{branch}.{_BN_SUFFIX[param.split('_')[-1]]}"
    m = _BN7_PARAM.match(name)
    if m:
        return f"bn7.{_BN_SUFFIX[m.group(1).split('_')[-1]]}"
    raise CheckpointFormatError(
        f"MXNet parameter {name!r} is not part of the ademxapp ResNet-38 (Model A1); "
        "is this ilsvrc-cls_rna-a1_cls1000_ep-0001.params?")


def rename_mxnet_resnet38(arrays: Dict[str, np.ndarray]) -> "OrderedDict[str, torch.Tensor]":
    """Apply :func:`mxnet_to_torch_key` to a name -> array dict; tensors keep the file's dtype."""
    out = OrderedDict()
    for name, arr in arrays.items():
        key = mxnet_to_torch_key(name)
        if key is not None:
            out[key] = torch.from_numpy(np.ascontiguousarray(arr))
    return out


def read_mxnet_params(path) -> "OrderedDict[str, torch.Tensor]":
    """Read ``ilsvrc-cls_rna-a1_cls1000_ep-0001.params`` without MXNet: 191 backbone tensors, PyTorch names."""
    return rename_mxnet_resnet38(read_ndarray_list(path))

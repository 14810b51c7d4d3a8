"""Reading images ahead of the network: a ``torch.utils.data.DataLoader`` whose worker processes decode
images (and read labels and saliency maps) of a source (:mod:`wsss_zoo.sources`, or a dataset of
:mod:`wsss_zoo.data`) while the main process runs the network on the previous ones.

Images differ in size, so items are not batched: each one comes back as it was read (batch size 1, no
collation), in the order of ``ids``. Decoded pixels travel from the workers as tensors in shared memory,
pinned when the network runs on CUDA, and are handed to the caller as numpy arrays again. A per-image
:class:`~wsss_zoo.errors.WsssZooError` (a damaged file, a missing label) does not stop the loader: it comes
back in :attr:`LoadedImage.error` for the caller to report with the image id.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .errors import ConfigError, WsssZooError

#: worker processes by default: up to this many, never more than the CPUs this process may use
MAX_DEFAULT_WORKERS = 4


def default_workers() -> int:
    """``min(4, usable CPUs)``."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_WORKERS, cpus))


def check_workers(workers: Optional[int]) -> int:
    """``workers`` as a count of processes (None: :func:`default_workers`; 0: read in this process)."""
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 0:
        raise ConfigError(f"workers must be a whole number >= 0 (0 reads the images in this process), "
                          f"got {workers!r}")
    return int(workers)


@dataclasses.dataclass
class LoadedImage:
    """One item of a source, read: ``image`` HxWx3 uint8, ``labels`` as the source gives them, ``saliency``
    HxW uint8 or None; ``error`` the reason it could not be read (then the others are None)."""

    index: int
    id: object
    image: Optional[np.ndarray] = None
    labels: object = None
    saliency: Optional[np.ndarray] = None
    error: Optional[BaseException] = None

    def pin_memory(self, *args) -> "LoadedImage":
        """Called by the DataLoader's pinning thread (CUDA runs only)."""
        return dataclasses.replace(self, image=_pinned(self.image, *args), saliency=_pinned(self.saliency, *args))

    def as_arrays(self) -> "LoadedImage":
        return dataclasses.replace(self, image=_array(self.image), saliency=_array(self.saliency))


def _pinned(value, *args):
    return value.pin_memory(*args) if torch.is_tensor(value) else value


def _array(value):
    return value.numpy() if torch.is_tensor(value) else value


def _tensor(value):
    return torch.from_numpy(value) if isinstance(value, np.ndarray) else value


class SourceItems(Dataset):
    """``ids`` of ``source`` as a map-style dataset of :class:`LoadedImage` (what the workers run)."""

    def __init__(self, source, ids: Sequence, *, labels: bool = True, saliency: bool = False,
                 as_tensors: bool = False):
        self.source, self.ids = source, list(ids)
        self.with_labels, self.with_saliency, self.as_tensors = labels, saliency, as_tensors

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> LoadedImage:
        image_id = self.ids[index]
        try:
            image = self.source.image(image_id)
            labels = self.source.labels(image_id) if self.with_labels else None
            sal = self.source.saliency(image_id, image.shape[:2]) if self.with_saliency else None
        except WsssZooError as exc:
            return LoadedImage(index, image_id, error=exc)
        if self.as_tensors:  # shared memory between processes instead of a pickled copy
            image, sal = _tensor(image), _tensor(sal)
        return LoadedImage(index, image_id, image, labels, sal)


def _as_is(item):
    """The DataLoader's collate function: items stay as read (images differ in size)."""
    return item


def load_ahead(source, ids: Optional[Sequence] = None, *, labels: bool = True, saliency: bool = False,
               workers: Optional[int] = None, pin_memory: bool = False) -> Iterator[LoadedImage]:
    """A generator of :class:`LoadedImage`, one for each of ``ids`` (default: ``source.ids``) in order, read
    ahead by ``workers`` processes (None: :func:`default_workers`; 0: read here, one at a time). The worker
    processes start at once and end when the generator is exhausted or closed.

    ``labels`` / ``saliency`` say whether to read them too; ``pin_memory`` pins the pixels for a fast
    copy to the GPU (only when CUDA is available).
    """
    ids = list(source.ids if ids is None else ids)
    workers = min(check_workers(workers), len(ids))
    items = SourceItems(source, ids, labels=labels, saliency=saliency, as_tensors=workers > 0)
    if workers == 0:
        return (items[index] for index in range(len(items)))
    loader = DataLoader(items, batch_size=None, shuffle=False, num_workers=workers, collate_fn=_as_is,
                        pin_memory=bool(pin_memory) and torch.cuda.is_available())
    batches = iter(loader)  # the workers start here, not on the first next()
    return (item.as_arrays() for item in batches)

"""Reading images ahead of the network: a ``torch.utils.data.DataLoader`` whose worker processes decode
images (and read labels and saliency maps) of a source (:mod:`wsss_zoo.sources`, or a dataset of
:mod:`wsss_zoo.data`) while the main process runs the network on the previous ones.

Images differ in size, so items are not batched: each one comes back as it was read (batch size 1, no
collation), in the order of ``ids``. Decoded pixels travel from the workers as numpy arrays (a pickled
copy through the worker's pipe: cheaper, for images of a few megabytes, than handing over one
shared-memory file descriptor per array); when the network runs on CUDA the DataLoader's pinning thread
copies them into pinned memory, off the main thread, and they are handed over as numpy views of it. A per-image
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

#: worker processes by default: up to this many, and one CPU fewer than this process may use
MAX_DEFAULT_WORKERS = 4


def default_workers() -> int:
    """``min(4, usable CPUs - 1)``: one CPU stays with the main process (the network, the writer thread).

    On one CPU that is 0: handing images over from another process costs more than it saves when the
    processes take turns on the same core (measured: benchmarks/bench_generate.py).
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    return max(0, min(MAX_DEFAULT_WORKERS, cpus - 1))


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
        """Called by the DataLoader's pinning thread (CUDA runs only): pixels into pinned memory."""
        return dataclasses.replace(self, image=_pinned(self.image), saliency=_pinned(self.saliency))

    def as_arrays(self) -> "LoadedImage":
        return dataclasses.replace(self, image=_array(self.image), saliency=_array(self.saliency))


def _pinned(value):
    return torch.from_numpy(value).pin_memory() if isinstance(value, np.ndarray) and value.flags.writeable else value


def _array(value):
    return value.numpy() if torch.is_tensor(value) else value


class SourceItems(Dataset):
    """``ids`` of ``source`` as a map-style dataset of :class:`LoadedImage` (what the workers run)."""

    def __init__(self, source, ids: Sequence, *, labels: bool = True, saliency: bool = False):
        self.source, self.ids = source, list(ids)
        self.with_labels, self.with_saliency = labels, saliency

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
        return LoadedImage(index, image_id, image, labels, sal)


def runs_on_cuda(target) -> bool:
    """Whether a pipeline (``.device``) or network (its parameters) runs on a CUDA device (pin the pixels)."""
    device = getattr(target, "device", None)
    if device is None and hasattr(target, "parameters"):
        device = next((p.device for p in target.parameters()), None)
    return str(device or "cpu").startswith("cuda")


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
    items = SourceItems(source, ids, labels=labels, saliency=saliency)
    if workers == 0:
        return (items[index] for index in range(len(items)))
    loader = DataLoader(items, batch_size=None, shuffle=False, num_workers=workers, collate_fn=_as_is,
                        pin_memory=bool(pin_memory) and torch.cuda.is_available())
    batches = iter(loader)  # the workers start here, not on the first next()
    return (item.as_arrays() for item in batches)

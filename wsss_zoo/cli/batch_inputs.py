"""What an image or folder run reads besides the network: the images of a folder, a labels file giving each
image its labels (text, JSON or the upstream ``cls_labels.npy``), and saliency maps. The readers are
:mod:`wsss_zoo.sources` (shared with the Python iterator API); this module maps the command's options onto
them. Formats: docs/cli.md, "Labels"."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import SaliencyError
from ..sources import IMAGE_SUFFIXES, collect_images, labels_in_table, read_labels_file, saliency_in_folder

__all__ = ["IMAGE_SUFFIXES", "collect_images", "labels_of", "read_labels_file", "saliency_of"]


def labels_of(args, stem: str, table: Optional[dict]):
    """The labels of one image: ``--labels`` for every image, or its entry in the ``--labels-file`` table."""
    if table is None:
        return args.labels
    return labels_in_table(table, stem, str(args.labels_file))


def saliency_of(args, image_path: Path, stem: str, single: bool):
    """The saliency map of one image: --saliency FILE for one image, a folder of NAME.png otherwise."""
    if not getattr(args, "saliency", None):
        return None
    sal = Path(args.saliency).expanduser()
    if sal.is_file():
        if not single:
            raise SaliencyError(f"--saliency {sal} is a file but the input is a folder; give a folder of saliency maps")
        return sal
    if sal.is_dir():
        return saliency_in_folder(sal, stem, image_path)
    raise SaliencyError(f"--saliency {sal} does not exist")

"""What an image or folder run reads besides the network: the images of a folder, a labels file giving each
image its labels (text, JSON or the upstream ``cls_labels.npy``), and saliency maps. Formats: docs/cli.md,
"Labels"."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..errors import InvalidImageError, InvalidLabelsError, SaliencyError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm")


def collect_images(path, recursive: bool = False) -> List[Tuple[Path, str]]:
    """``[(image path, output stem)]`` for an image file or a folder (sorted; subfolders with --recursive)."""
    path = Path(path).expanduser()
    if path.is_file():
        return [(path, path.stem)]
    if not path.is_dir():
        raise InvalidImageError(f"{path} is neither an image file nor a folder")
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        hint = "" if recursive else " (add --recursive to look in subfolders)"
        raise InvalidImageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {path}{hint}")
    return [(p, p.relative_to(path).with_suffix("").as_posix()) for p in files]


def read_labels_file(path) -> Dict[str, object]:
    """Image-level labels per image: ``{stem: labels}`` from a text, JSON or upstream ``cls_labels.npy`` file.

    Text: one image a line, ``NAME LABELS`` with labels as names or ids separated by commas (or
    spaces), e.g. ``2007_000129 bicycle,person``; a tab or a first comma may also separate the name.
    JSON: ``{"NAME": ["bicycle", "person"]}``. ``.npy``: PSA/EPS ``cls_labels.npy``, a dict of
    multi-hot vectors. ``NAME`` may carry an extension; lines starting with ``#`` are skipped.
    """
    import numpy as np

    from ..fileio import read_text_utf8
    from ..safe_pickle import load_npy_dict

    path = Path(path).expanduser()
    if not path.is_file():
        raise InvalidLabelsError(f"labels file not found: {path}")
    if path.suffix == ".npy":
        table = load_npy_dict(path, error=InvalidLabelsError, what="labels file")
        out = {}
        for k, v in table.items():
            try:
                vec = np.asarray(v, dtype=np.float32)
            except (TypeError, ValueError):
                vec = None
            if vec is None or vec.ndim != 1:
                raise InvalidLabelsError(f"{path}: the labels of {k!r} are not a multi-hot vector "
                                         "(cls_labels.npy format: {image name: vector of C zeros and ones})")
            out[Path(str(k)).stem] = vec
        return out
    text = read_text_utf8(path, InvalidLabelsError, "labels file")
    if path.suffix == ".json":
        try:
            table = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InvalidLabelsError(f"{path} is not valid JSON: {str(exc)[:200]}") from None
        if not isinstance(table, dict):
            raise InvalidLabelsError(f"{path} must hold an object {{image name: labels}}")
        for k, v in table.items():
            if not _is_label_value(v):
                raise InvalidLabelsError(
                    f"{path}: the labels of {k!r} are {_json_kind(v)}; give a list of class names or ids "
                    'or a comma-separated string, e.g. {"img1": ["cat", "person"]}')
        return {_name_key(k): v for k, v in table.items()}
    table = {}
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sep = "\t" if "\t" in line else "," if "," in line.split(None, 1)[0] else " "
        name, _, rest = line.partition(sep)
        rest = rest.strip()
        commas = sep == "," or "," in rest  # CSV-like lines separate labels by commas only
        labels = [t.strip() for t in (rest.split(",") if commas else rest.split()) if t.strip()]
        if not labels:
            raise InvalidLabelsError(f"{path}:{n}: no labels for {name!r}; write NAME LABELS, e.g. img1 cat,person")
        table[_name_key(name.strip())] = labels
    return table


def _name_key(name) -> str:
    """The image name of a labels-file entry without its extension (``a/b.jpg`` -> ``a/b``)."""
    path = Path(str(name))
    try:
        return path.with_suffix("").as_posix()
    except ValueError:  # "", ".", "..": no extension to drop
        return path.as_posix()


def _is_label_value(value) -> bool:
    """A labels-file entry: a string, an id, or a list of strings and ids (no nesting, no booleans)."""
    def atom(x):
        return isinstance(x, str) or (isinstance(x, int) and not isinstance(x, bool))

    return atom(value) or (isinstance(value, list) and all(atom(x) for x in value))


def _json_kind(value) -> str:
    kinds = {dict: "an object", list: "a list holding other things than names and ids", bool: "a boolean",
             float: "a number with a fraction", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def labels_of(args, stem: str, table: Optional[dict]):
    if table is None:
        return args.labels
    for key in (stem, Path(stem).name):
        if key in table:
            return table[key]
    raise InvalidLabelsError(f"no labels for {stem} in {args.labels_file}")


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
        for suffix in (".png", ".jpg", ".jpeg", ".bmp"):
            for candidate in (sal / (stem + suffix), sal / (image_path.stem + suffix)):
                if candidate.is_file():
                    return candidate
        raise SaliencyError(f"no saliency map for {stem} in {sal} (expected {stem}.png)")
    raise SaliencyError(f"--saliency {sal} does not exist")

"""Upstream checkpoint layouts -> our modules.

:mod:`wsss_zoo.convert.core` holds the mechanism (safe reading, unwrapping, alias collapse, strict
loading) and the layout registry; :mod:`wsss_zoo.convert.mxnet` reads MXNet ``.params`` files. The rules
of each published layout live beside their network, in the family module of :mod:`wsss_zoo.models`
(``@register_layout``).
"""
from .core import (  # noqa: F401
    CheckpointFormatError,
    LAYOUTS,
    Layout,
    add_prefix,
    collapse_aliases,
    convert_state_dict,
    download_format,
    drop_keys,
    get_layout,
    guess_layouts,
    list_layouts,
    load_state_dict_strict,
    read_checkpoint,
    register_layout,
    rename_keys,
    sniff_bytes,
    sniff_file,
    strip_prefix,
    unwrap_state_dict,
)

"""Upstream checkpoint layouts -> our modules.

:mod:`wsss_zoo.convert.core` holds the mechanism (safe reading, unwrapping, alias collapse, strict
loading); each network family registers the rules for its published layouts with
:func:`register_layout` in its own module of this package.
"""
from .core import (  # noqa: F401
    CheckpointFormatError,
    Layout,
    add_prefix,
    collapse_aliases,
    convert_state_dict,
    drop_keys,
    get_layout,
    guess_layouts,
    list_layouts,
    load_state_dict_strict,
    read_checkpoint,
    register_layout,
    rename_keys,
    sniff_file,
    strip_prefix,
    unwrap_state_dict,
)

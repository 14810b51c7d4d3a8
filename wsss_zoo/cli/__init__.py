"""The ``wsss-zoo`` command line (also ``python -m wsss_zoo``); the user guide is docs/cli.md.

``main`` (:mod:`.entry`: exit codes and the one error path) -> ``parser`` (the argparse tree and the
examples) -> a command module: :mod:`.registry_commands` (list, info, download, convert, publish),
:mod:`.image_commands` (cam, pseudo-mask, segment on an image or a folder), :mod:`.dataset_runs` (the
same commands over a dataset split), :mod:`.compare_command`, :mod:`.eval_command`. They share one
grammar of options (:mod:`.options`) and one loader of networks and pipelines (:mod:`.targets`).
"""
from .entry import EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main
from .parser import EXAMPLES, build_parser

__all__ = ["EXAMPLES", "EXIT_BROKEN_PIPE", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL",
           "EXIT_USAGE", "build_parser", "main"]

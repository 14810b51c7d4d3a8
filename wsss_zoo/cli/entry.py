"""``main``, the entry point of ``wsss-zoo``: parse, run the command, and turn every outcome into a message
and an exit code (the one error path of the command line).

Exit codes: 0 done; 2 bad usage or a :class:`~wsss_zoo.errors.WsssZooError` (one line ``wsss-zoo: error:
...``, no traceback unless ``--debug``); 3 partly done (each failed item named on stderr as ``wsss-zoo:
error: ITEM: ...``, the others were written); 1 internal error (a bug: the traceback is printed);
130 interrupted (Ctrl-C); 141 stdout closed early (``wsss-zoo list | head -1``: quietly, as a program
ended by SIGPIPE).
"""
from __future__ import annotations

import os
import sys
import traceback
import warnings
from typing import Optional, Sequence

from ..errors import WsssZooError
from .messages import PROG, PartialFailure, error, error_text, warn
from .parser import build_parser

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 3, 130, 141

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``wsss-zoo`` and ``python -m wsss_zoo``; returns the exit code (module docstring)."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = build_parser().parse_args(argv)
    args.debug, args.quiet = getattr(args, "debug", False), getattr(args, "quiet", False)
    with warnings.catch_warnings():  # restores the warning machinery when main() is called in-process
        if not args.debug:
            warnings.showwarning = _show_warning
        return run(args)


def run(args) -> int:
    """Run the chosen command; exceptions become messages and exit codes."""
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the error path, not at interpreter exit
        return code
    except PartialFailure as partial:
        for item, problem in partial.failed.items():
            error(f"{item}: {error_text(problem)}")
        if partial.done:
            return EXIT_PARTIAL
        if partial.nothing_done:
            error(partial.nothing_done)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (WsssZooError, OSError) as exc:  # OSError: disk full, permission denied... the environment, not a bug
        if args.debug:
            raise
        error(error_text(exc))
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - anything else is a bug: show it
        if _is_out_of_memory(exc):
            error("out of GPU memory; try --device cpu, --precision auto, or a smaller image")
            return EXIT_USAGE
        traceback.print_exc()
        print(f"{PROG}: internal error ({type(exc).__name__}); this is a bug, please report it with the "
              "traceback above", file=sys.stderr)
        return EXIT_INTERNAL


def _silence_stdout() -> None:
    """The reader of stdout is gone: point stdout at /dev/null so that Python's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # in-process callers may have replaced sys.stdout
        pass


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings of wsss_zoo as one line each; library-internal ones (torch's beta notices) only with --debug."""
    text = str(message)
    if os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep) and "(Triggered internally at" not in text:
        warn(text)


def _is_out_of_memory(exc: BaseException) -> bool:
    try:
        import torch

        return isinstance(exc, torch.cuda.OutOfMemoryError)
    except (ImportError, AttributeError):
        return False

"""What the command line prints besides its results: summary lines, warnings, notes, error wording, and
:class:`PartialFailure`, the way a command hands its failed items to the one error path (:mod:`.entry`)."""
from __future__ import annotations

import sys
from typing import Mapping

PROG = "wsss-zoo"

#: Python-API wording in error messages -> the command line's
_CLI_WORDING = (("see wsss_zoo.list_models()", "see wsss-zoo list"),
                ("see wsss_zoo.list_pipelines()", "see wsss-zoo list --pipelines"),
                ("pass weights=<path to the downloaded file>", "pass --weights PATH"),
                ("or pass weights=<path>", "or pass --weights PATH"),
                ("use crf=False", "drop --crf"), ("call with crf=False", "drop --crf"))


class PartialFailure(Exception):
    """Some items of a batch failed; the others were done.

    ``failed`` maps each failed item (an image, a name, a method) to its error; :func:`wsss_zoo.cli.main`
    prints one ``wsss-zoo: error: ITEM: MESSAGE`` line per item and exits 3, or 2 when nothing was done
    (``done == 0``), adding ``nothing_done`` as the last line when given.
    """

    def __init__(self, failed: Mapping[str, object], done: int, nothing_done: str = ""):
        super().__init__(f"{len(failed)} failed, {done} done")
        self.failed, self.done, self.nothing_done = dict(failed), done, nothing_done


def say(args, *lines) -> None:
    """Summary lines on stdout, unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        for line in lines:
            print(line)


def note(args, message: str) -> None:
    """One informational line on stderr (``wsss-zoo: MESSAGE``), unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(f"{PROG}: {message}", file=sys.stderr)


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def error(message: str) -> None:
    """The one shape of an error line: ``wsss-zoo: error: MESSAGE``."""
    print(f"{PROG}: error: {message}", file=sys.stderr)


def error_text(exc) -> str:
    """The message of an error (or a message string) in command-line words; extra lines are indented."""
    text = str(exc).strip() or type(exc).__name__
    for api_words, cli_words in _CLI_WORDING:
        text = text.replace(api_words, cli_words)
    return text.replace("\n", "\n  ")


def progress(items, args, desc: str):
    """A tqdm bar over a batch on stderr: only when stderr is a terminal, more than one item, no ``--quiet``
    or ``--no-progress``."""
    from tqdm.auto import tqdm

    show = progress_wanted(args) and len(items) > 1
    return tqdm(items, desc=desc, unit="img", disable=not show, dynamic_ncols=True)


def progress_wanted(args) -> bool:
    """Progress bars go to a terminal only (a log file or a pipe gets none), and not with -q/--no-progress."""
    quiet = getattr(args, "quiet", False) or getattr(args, "no_progress", False)
    return not quiet and sys.stderr.isatty()

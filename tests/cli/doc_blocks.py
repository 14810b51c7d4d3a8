"""The fenced blocks of the documentation, what each needs, and a runner for the ones that run offline.

A ``bash`` or ``python`` block either runs as written in a fresh clone with no network and no weights,
or the Markdown has an HTML comment right before it (readers do not see it) saying what it needs::

    <!-- needs: weights eps_resnet38_voc (about 420 MB); time (about 2 minutes of CPU) -->

Items are separated by ``;``, each a kind from :data:`NEED_KINDS`, then names (``weights``: registry
networks, ``file``: paths) and free text in parentheses. A ``json`` block preceded by
``<!-- file: NAME -->`` is a file the reader is asked to save: the runner writes it when it gets there.

The runner (:class:`DocSandbox`) works through one document top to bottom in a copy of the repository,
offline, with an empty cache. It runs every unmarked block, and every marked block whose needs it can
stand in for: ``weights`` and ``file`` of networks that tests/fixtures can write in the upstream layout
(random values, placed in the cache or at the path for that block only). Other needs (network, dataset,
gpu, time, chromium) keep a block from running; its ``wsss-zoo`` commands are still parsed (test_docs.py).
"""
from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Tuple

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")),
        "examples/README.md", "training/README.md"]
LANGUAGES = ("bash", "python", "json", "text", "bibtex")
NEED_KINDS = {
    "network": "downloads something other than weights (GitHub, PyPI, the Hugging Face Hub)",
    "weights": "published weights of the named networks, downloaded on first use",
    "file": "files the reader has: a training run, photos, a labels file",
    "dataset": "PASCAL VOC or MS-COCO on disk",
    "gpu": "a CUDA GPU (or several)",
    "time": "minutes or more of CPU",
    "chromium": "a headless Chromium for screenshots",
}
STANDS_IN_FOR = ("weights", "file")

_FENCE = re.compile(r"^```(?P<lang>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
_COMMENT_BEFORE = re.compile(r"<!--\s*(?P<key>needs|file):(?P<value>(?:(?!-->).)*)-->\s*\Z", re.S)


@dataclasses.dataclass(frozen=True)
class Need:
    kind: str
    names: Tuple[str, ...]  # registry names (weights) or paths (file); empty for the other kinds
    text: str


@dataclasses.dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    body: str
    needs: Tuple[Need, ...] = ()
    file: Optional[str] = None  # json blocks: the name the reader saves it as

    @property
    def label(self) -> str:
        return f"{self.doc}:{self.line}"


def _items(value: str) -> List[str]:
    """``value`` split at the semicolons outside parentheses."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(value):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == ";" and depth == 0:
            items.append(value[start:i])
            start = i + 1
    return [item.strip() for item in items + [value[start:]] if item.strip()]


def parse_needs(value: str, where: str) -> Tuple[Need, ...]:
    needs = []
    for item in _items(value):
        head = item.split("(", 1)[0].strip()
        kind, *names = head.replace(",", " ").split()
        if kind not in NEED_KINDS:
            raise ValueError(f"{where}: unknown need {kind!r} in {item!r}; use one of {', '.join(NEED_KINDS)}")
        if kind not in STANDS_IN_FOR and names:
            raise ValueError(f"{where}: put the details of {kind!r} in parentheses: {item!r}")
        needs.append(Need(kind, tuple(names), item))
    if not needs:
        raise ValueError(f"{where}: an empty needs comment")
    return tuple(needs)


def blocks(doc: str) -> List[Block]:
    """Every fenced block of ``doc`` (a path relative to the repository), in order."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    out = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        comment = _COMMENT_BEFORE.search(text, 0, m.start())
        needs, file = (), None
        if comment:
            value = " ".join(comment.group("value").split())
            if comment.group("key") == "needs":
                needs = parse_needs(value, f"{doc}:{line}")
            else:
                file = value
        out.append(Block(doc, line, m.group("lang").strip(), m.group("body"), needs, file))
    return out


def shell_lines(body: str) -> List[str]:
    """The commands of a shell block: continuations joined, blank and comment-only lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", body)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def networks_of(need: Need) -> List[str]:
    """The networks of a need: the names themselves (weights); for files, the network a file is named
    after (training/run.py writes ``<network>.pth``) or whose published file name it has."""
    if need.kind == "weights":
        return list(need.names)
    from wsss_zoo.registry import models

    by_filename = {entry.filename: entry.name for entry in models()}
    return [Path(p).stem if Path(p).stem in by_filename.values() else by_filename.get(Path(p).name, p)
            for p in need.names]


def runnable(block: Block, standins) -> bool:
    """Whether the runner runs ``block``: a shell or Python block whose every need it can stand in for."""
    return block.lang in ("bash", "python") and all(
        need.kind in STANDS_IN_FOR and need.names and all(n in standins for n in networks_of(need))
        for need in block.needs)


# ------------------------------------------------------------------------------------------------ runner
def _copy_repository(dest: Path) -> None:
    """The files of a fresh clone: tracked and untracked-but-not-ignored files (no caches, no venv)."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                 cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
        files = [f for f in listing.decode().split("\0") if f]
    except (OSError, subprocess.SubprocessError):  # no git: everything but the usual local folders
        skip = {".git", ".venv", "__pycache__", ".pytest_cache", "build", "dist"}
        files = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                 if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    for rel in files:
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _place(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)  # stand-ins are 0.1-0.4 GB: no copies
    except OSError:
        shutil.copyfile(src, dest)


class DocSandbox:
    """One document's reader: a copy of the repository, its own empty cache, no network.

    ``standins`` maps registry networks to a function that returns the path of a stand-in file in their
    upstream layout; ``run_cli(argv, env, cwd)`` runs ``wsss-zoo ARGV`` and returns ``(exit code,
    stderr)`` (test_docs.py runs it in the test's process: a new interpreter per command would cost ~3 s
    of torch import each).
    """

    def __init__(self, base: Path, standins: Mapping[str, Callable[[], Path]],
                 run_cli: Callable[[List[str], Dict[str, str], Path], Tuple[int, str]]):
        self.repo, self.home, self.bin = base / "wsss_zoo", base / "home", base / "bin"
        for folder in (self.repo, self.home, self.bin):
            folder.mkdir(parents=True)
        _copy_repository(self.repo)
        for name, target in (("wsss-zoo", f'"{sys.executable}" -m wsss_zoo'), ("python", f'"{sys.executable}"')):
            shim = self.bin / name
            shim.write_text(f'#!/bin/sh\nexec {target} "$@"\n')
            shim.chmod(0o755)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("WSSS_ZOO_", "HF_HUB_")) and k not in ("PYTHONPATH", "TORCH_HOME")}
        self.env.update(WSSS_ZOO_HOME=str(self.home), WSSS_ZOO_OFFLINE="1", OMP_NUM_THREADS="1",
                        TORCH_HOME=str(base / "torch_home"), PYTHONPATH=str(self.repo),
                        PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}")
        self._standins, self._run_cli = standins, run_cli

    def _placements(self, block: Block) -> List[Path]:
        from wsss_zoo.registry import model_entry

        placed = []
        for need in block.needs:
            for name, given in zip(networks_of(need), need.names):
                dest = (self.home / "checkpoints" / model_entry(name).filename if need.kind == "weights"
                        else self.repo / given)
                _place(self._standins[name](), dest)
                placed.append(dest)
        return placed

    # -- running
    def run(self, block: Block) -> None:
        """Run one block (placing its stand-ins first, removing them after); AssertionError on failure."""
        if block.file:
            (self.repo / block.file).write_text(block.body, encoding="utf-8")
            return
        placed = self._placements(block)
        try:
            if block.lang == "python":
                self._check(block, "python", self._subprocess([sys.executable, "-"], block.body))
            else:
                for line in shell_lines(block.body):
                    self._run_line(block, line)
        finally:
            for path in placed:
                path.unlink(missing_ok=True)

    def _run_line(self, block: Block, line: str) -> None:
        if re.search(r"[|&;<>$`()]", line):  # pipes, redirections, expansions: bash runs it
            self._check(block, line, self._subprocess(["bash", "-e", "-o", "pipefail", "-c", line]))
            return
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            for word in words[1:]:
                key, _, value = word.partition("=")
                self.env[key] = value
            return
        env = {}
        while "=" in words[0] and re.fullmatch(r"[A-Za-z_]\w*", words[0].split("=", 1)[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        if words[0] == "wsss-zoo":
            code, err = self._run_cli(words[1:], {**self.env, **env}, self.repo)
            self._check(block, line, subprocess.CompletedProcess(words, code, "", err))
        elif words[0] == "python":
            self._check(block, line, self._subprocess([sys.executable, *words[1:]], env=env))
        else:
            self._check(block, line, self._subprocess(["bash", "-e", "-c", line]))

    def _subprocess(self, argv, stdin: Optional[str] = None, env: Optional[Dict[str, str]] = None):
        return subprocess.run(argv, input=stdin, cwd=self.repo, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=300)

    @staticmethod
    def _check(block: Block, what: str, proc) -> None:
        hint = ("; if it cannot run offline in a fresh clone, say what it needs in a "
                "<!-- needs: ... --> comment right before the block (tests/cli/doc_blocks.py)")
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (
            f"{block.label}: {what[:200]!r} exited {proc.returncode}{hint}\n{proc.stderr[-3000:]}")


#: README.md's first block: .ci/run installs the package and runs the tests exactly so (test_docs.py checks).
SETUP_BODY = 'pip install -e ".[test,crf]"\npython -m pytest\n'


def is_setup_block(block: Block) -> bool:
    return block.doc == "README.md" and block.body == SETUP_BODY


def run_document(doc: str, sandbox: DocSandbox, standins) -> List[str]:
    """Read ``doc`` top to bottom as a reader would; returns the labels of the blocks that ran."""
    ran = []
    for block in blocks(doc):
        if block.file:
            sandbox.run(block)
        elif runnable(block, standins) and not is_setup_block(block):
            sandbox.run(block)
            ran.append(block.label)
    return ran

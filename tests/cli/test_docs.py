"""The documentation stays true: every command and Python block of README.md, docs/*.md, examples/ and
training/README.md either runs offline as written (run here, in a copy of the repository) or says what it
needs; the documented commands parse; the --help examples and the example image stay true."""
import json
import os
import re
import shlex
import shutil

import pytest
from cli_support import ROOT
from doc_blocks import (DOCS, LANGUAGES, NEED_KINDS, SETUP_BODY, DocSandbox, blocks, is_setup_block, run_document,
                        runnable, shell_lines)
from PIL import Image

from wsss_zoo import cli
from wsss_zoo.cli import options

README = (ROOT / "README.md").read_text(encoding="utf-8")
CLI_DOC = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
ALL_BLOCKS = [b for doc in DOCS for b in blocks(doc)]


def _commands(text: str, indent: str = ""):
    """``wsss-zoo ...`` lines and ``torchrun ... -m wsss_zoo ...`` lines (backslash continuations joined,
    comments dropped) of a text, as the arguments of wsss-zoo."""
    text = text.replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip() if not indent else line
        if line.startswith(indent + "wsss-zoo "):
            yield shlex.split(line.strip(), comments=True)[1:]
        elif line.startswith(indent + "torchrun ") and " -m wsss_zoo " in line:
            words = shlex.split(line.strip(), comments=True)
            yield words[words.index("wsss_zoo") + 1:]


def _parses(argv):
    args = cli.build_parser().parse_args(argv)  # SystemExit(2) on a stale example
    if args.command in ("cam", "pseudo-mask", "segment"):
        options.check_mode(args)  # no option the example's input mode would refuse
    return args


def test_readme_opens_with_title_and_the_two_setup_commands():
    assert README.startswith('# wsss_zoo\n\n```bash\npip install -e ".[test,crf]"\npython -m pytest\n```\n')
    assert "<!-- model-table:start -->" in README and "<!-- model-table:end -->" in README


DOC_COMMANDS = [c for b in ALL_BLOCKS if b.lang == "bash" for c in _commands(b.body)]
HELP_COMMANDS = [c for text in cli.EXAMPLES.values() for c in _commands(text, indent="  ")]
#: names the docs define in overlays the reader saves (<!-- file: NAME --> json blocks)
OVERLAY_NAMES = {name for b in ALL_BLOCKS if b.file and b.lang == "json"
                 for section in ("models", "pipelines") for name in json.loads(b.body).get(section, {})}


@pytest.mark.parametrize("argv", DOC_COMMANDS + HELP_COMMANDS, ids=lambda a: " ".join(a)[:60])
def test_documented_commands_parse(argv, capsys):
    if "--help" in argv:
        with pytest.raises(SystemExit) as exit_:
            cli.build_parser().parse_args(argv)
        assert exit_.value.code == 0 and "usage: wsss-zoo" in capsys.readouterr().out
        return
    args = _parses(argv)
    names = [getattr(args, "name", None), getattr(args, "name_option", None)] + list(getattr(args, "names", []) or [])
    methods = (getattr(args, "methods", None) or "").split(",")
    from wsss_zoo.registry import is_model, is_pipeline

    for name in filter(None, names + methods):
        assert is_model(name) or is_pipeline(name) or name in OVERLAY_NAMES, name
    for word in argv:  # the files a reader can run the example on as written
        if word.startswith("examples/") and not word.endswith("/"):
            assert (ROOT / word).is_file(), word


def test_the_main_examples_are_documented():
    joined = [" ".join(c) for c in DOC_COMMANDS]
    assert "pseudo-mask eps_voc examples/cyclist.jpg --labels bicycle,person --out out/" in joined
    assert any(c.startswith("compare examples/cyclist.jpg") and "--out docs/compare.png" in c for c in joined)


def test_every_command_has_a_section_in_docs_cli():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for command in commands:
        assert f"\n## wsss-zoo {command}\n" in CLI_DOC, command
        assert f"`wsss-zoo {command}" in README, command


def test_readme_cites_every_method_as_the_registry_does():
    methods = json.loads((ROOT / "checkpoints.json").read_text())["methods"]
    for name, record in methods.items():
        assert record["citation"] in README, name


def test_relative_links_exist():
    for doc in DOCS:
        text, base = (ROOT / doc).read_text(encoding="utf-8"), (ROOT / doc).parent
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (base / target).exists(), (doc, target)


def test_example_image():
    path = ROOT / "examples" / "cyclist.jpg"
    assert path.stat().st_size < 100_000
    with Image.open(path) as im:
        assert im.format == "JPEG" and im.size == (500, 375) and im.mode == "RGB"


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_anchors_exist():
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for target, anchor in re.findall(r"\]\(([^)#:]*)#([^)]+)\)", text):
            path = (ROOT / doc).parent / target if target else ROOT / doc
            headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
            assert anchor in {_slug(h) for h in headings}, (doc, target, anchor)


# ----------------------------------------------------------------------------- every block runs or says why
def test_every_fenced_block_names_a_known_language():
    for b in ALL_BLOCKS:
        assert b.lang in LANGUAGES, f"{b.label}: fence the block as one of {LANGUAGES}, not {b.lang!r}"


def test_needs_comments_name_known_networks_and_json_blocks_parse():
    from wsss_zoo.registry import is_model

    for b in ALL_BLOCKS:
        for need in b.needs:
            assert need.kind in NEED_KINDS
            if need.kind == "weights":
                assert need.names and all(is_model(n) for n in need.names), b.label
            if need.kind == "file":
                assert need.names, f"{b.label}: say which files: <!-- needs: file PATH (...) -->"
        if b.lang == "json":
            try:
                json.loads(b.body)
            except ValueError:  # a list of alternatives, one JSON object a line
                for line in filter(str.strip, b.body.splitlines()):
                    json.loads(line)
        if b.lang == "python":
            compile(b.body, b.label, "exec")
        assert not (b.file and b.needs), b.label


def test_readme_setup_block_is_what_ci_runs():
    """README.md's first block is the one thing the doc runner does not run: CI runs exactly it."""
    setup = [b for b in ALL_BLOCKS if is_setup_block(b)]
    assert len(setup) == 1 and blocks("README.md")[0] == setup[0]
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert any(line.strip().startswith("python -m pip install") and line.strip().endswith('-e ".[test,crf]"')
               for line in script), "the README's install command is not what .ci/run installs"
    assert SETUP_BODY.splitlines()[1] in [line.strip() for line in script]


def _standins_available():
    return {"cda_irn_resnet50_voc", "cda_irn_edge_resnet50_voc", "eps_resnet38_voc"}


def test_the_key_examples_are_run_by_the_doc_test():
    """Not everything may hide behind a needs comment: the offline paths a reader is told about run."""
    ran = {b.label: b for b in ALL_BLOCKS if runnable(b, _standins_available()) and not is_setup_block(b)}
    bodies = "\n".join(b.body for b in ran.values())
    for fragment in ('torch.hub.load(".", ', 'weights="runs/eps/eps_resnet38_voc.pth"', 'add_entries("my_runs.json")',
                     "wsss-zoo info my_eps_voc", "wsss-zoo list\n", "wsss-zoo info eps_voc",
                     "wsss-zoo cam cda_irn_resnet50_voc examples/cyclist.jpg", "wsss-zoo eval --pred tiny_out",
                     "python training/run.py --list", 'add_entries("extra.json")'):
        assert fragment in bodies, f"no block the doc test runs has {fragment!r}"
    assert len(ran) >= 12, sorted(ran)


def test_docs_that_need_weights_say_the_offline_way():
    for doc in DOCS:
        if any(n.kind == "weights" for b in blocks(doc) for n in b.needs):
            text = (ROOT / doc).read_text(encoding="utf-8")
            assert re.search(r"--weights|weights=|WSSS_ZOO_OFFLINE|#using-your-own-weights", text), doc


def test_docs_stand_alone():
    """No doc sends the reader to files outside the repository (the project's private specs)."""
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for pattern in (r"shared/", r"\bspec/", r"/work/", r"fact sheet", r"\bmethods/\w+\.md"):
            assert not re.search(pattern, text), (doc, pattern)


# ----------------------------------------------------------------------------- what the docs promise
def test_readme_says_how_to_get_the_code_and_what_it_costs():
    assert "git clone https://github.com/<owner>/wsss_zoo.git" in README
    assert re.search(r"`<owner>` below \(and in `torch.hub.load`\)\s+stands for the GitHub account", README)
    assert 'torch.hub.load("<owner>/wsss_zoo", ' in README and 'source="local"' in README
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in README
    assert re.search(r"git\+https://github.com/<owner>/wsss_zoo", README)
    assert re.search(r"`python -m pytest` runs about [\d,]+ tests in about", README)
    quick = README[README.index("## Quick start"):README.index("### torch.hub")]
    assert "420 MB" in quick and "2 minutes of CPU" in quick and "(#speed-and-precision)" in quick
    assert "--precision auto" in quick
    speed = README[README.index("\n## Speed and precision\n"):]
    for word in ("`fp32`", "`bf16`", "`fp16`", "`auto`", "`--precision`", "`precision=`"):
        assert word in speed.split("\n### ")[0], word


def _device_commands():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    return {name for name, sub in commands.items()
            if any("--device" in a.option_strings for a in sub._actions)}, set(commands)


def test_docs_name_exactly_the_commands_that_take_device():
    takes, every = _device_commands()
    listed = re.findall(r"`([a-z-]+)`", re.search(r"The commands that run networks \(([^)]*)\)", README).group(1))
    assert set(listed) == takes
    refused = re.search(r"the others \(([^)]*)\)\s+run no network and refuse these options", README).group(1)
    assert set(re.findall(r"`([a-z-]+)`", refused)) == every - takes
    doc = re.search(r"taken by the commands that run networks \(([^)]*)\);([^.]*)refuse them", CLI_DOC)
    assert set(re.findall(r"`([a-z-]+)`", doc.group(1))) == takes
    assert set(re.findall(r"`([a-z-]+)`", doc.group(2))) == every - takes
    for doc_name in DOCS:
        assert not re.search(r"every command takes `--device`", (ROOT / doc_name).read_text(encoding="utf-8"))


def test_cli_doc_describes_progress_bars_and_errors_as_they_are():
    assert "show a progress bar on stderr only when stderr\nis a terminal" in CLI_DOC
    assert "`wsss-zoo: error: <what to do>`" in CLI_DOC


# ----------------------------------------------------------------------------- running the docs
@pytest.fixture(scope="module")
def doc_standins(weights, tmp_path_factory):
    """Stand-in files of the networks the docs' runnable blocks name, written on first use."""
    from fixtures.resnet38_layouts import write_model

    folder = tmp_path_factory.mktemp("doc_standins")
    written = {}

    def lazy(name, write):
        def get():
            if name not in written:
                written[name] = write(folder / f"{name}.pth")
            return written[name]
        return get

    standins = {name: (lambda name=name: weights["upstream"][name])
                for name in ("cda_irn_resnet50_voc", "cda_irn_edge_resnet50_voc")}
    standins["eps_resnet38_voc"] = lazy("eps_resnet38_voc", lambda p: write_model("eps_resnet38_voc", p))
    assert set(standins) == _standins_available()
    yield standins
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def cli_in_process(monkeypatch, capsys):
    """``run_cli(argv, env, cwd)`` for DocSandbox: ``wsss-zoo ARGV`` in this process, with the sandbox's
    variables and folder."""
    def run_cli(argv, env, cwd):
        with monkeypatch.context() as mp:
            for key in list(os.environ):
                if key.startswith(("WSSS_ZOO_", "HF_HUB_")):
                    mp.delenv(key)
            for key, value in env.items():
                if key.startswith(("WSSS_ZOO_", "HF_HUB_")) or key == "TORCH_HOME":
                    if key == "WSSS_ZOO_REGISTRY":  # what a new process would read from this folder; absolute,
                        # so that the registry's per-value cache never serves another folder's file
                        value = os.pathsep.join(str(cwd / p) for p in value.split(os.pathsep))
                    mp.setenv(key, value)
            mp.chdir(cwd)
            capsys.readouterr()
            try:
                code = cli.main(argv)
            except SystemExit as exc:  # the option parser's usage errors
                code = exc.code
            err = capsys.readouterr().err
        return code, err

    return run_cli


RUN_DOCS = [doc for doc in DOCS if any(runnable(b, _standins_available()) and not is_setup_block(b)
                                       for b in blocks(doc))]


@pytest.mark.parametrize("doc", RUN_DOCS)
def test_the_doc_runs_as_written(doc, tmp_path, doc_standins, cli_in_process):
    """Each runnable block, in order, in a fresh copy of the repository: offline, empty cache, stand-in
    files only where the block's needs comment names them. Exit status 0 and no traceback."""
    sandbox = DocSandbox(tmp_path, doc_standins, cli_in_process)
    ran = run_document(doc, sandbox, doc_standins)
    assert ran


def test_every_environment_variable_is_documented():
    section = CLI_DOC[CLI_DOC.index("\n## Environment\n"):]
    used = set()
    for path in (ROOT / "wsss_zoo").rglob("*.py"):
        used |= set(re.findall(r"WSSS_ZOO_[A-Z_]+[A-Z]", path.read_text(encoding="utf-8")))
    documented = set(re.findall(r"WSSS_ZOO_[A-Z_]+[A-Z]", section))
    documented |= {f"WSSS_ZOO_DOWNLOAD{s}" for s in re.findall(r"`(_[A-Z_]+)`", section)}  # `_MIN_RATE`, ...
    assert used <= documented, sorted(used - documented)

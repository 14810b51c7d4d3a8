"""The README, docs/cli.md, the --help examples and the example image stay true to the command line."""
import json
import re
import shlex

import pytest
from cli_support import ROOT
from PIL import Image

from wsss_zoo import cli
from wsss_zoo.cli import options

README = (ROOT / "README.md").read_text(encoding="utf-8")
CLI_DOC = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")


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


DOC_COMMANDS = [c for text in (README, CLI_DOC, (ROOT / "examples" / "README.md").read_text()) for c in _commands(text)]
HELP_COMMANDS = [c for text in cli.EXAMPLES.values() for c in _commands(text, indent="  ")]


@pytest.mark.parametrize("argv", DOC_COMMANDS + HELP_COMMANDS, ids=lambda a: " ".join(a)[:60])
def test_documented_commands_parse(argv):
    args = _parses(argv)
    names = [getattr(args, "name", None), getattr(args, "name_option", None)] + list(getattr(args, "names", []) or [])
    methods = (getattr(args, "methods", None) or "").split(",")
    from wsss_zoo.registry import is_model, is_pipeline

    for name in filter(None, names + methods):
        assert is_model(name) or is_pipeline(name), name
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
    for text, base in ((README, ROOT), (CLI_DOC, ROOT / "docs")):
        for target in re.findall(r"\]\(([^)#:]+)\)", text):
            assert (base / target).exists(), target


def test_example_image():
    path = ROOT / "examples" / "cyclist.jpg"
    assert path.stat().st_size < 100_000
    with Image.open(path) as im:
        assert im.format == "JPEG" and im.size == (500, 375) and im.mode == "RGB"

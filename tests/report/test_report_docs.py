"""docs/report.md stays true: its commands parse, its screenshot is there and small, its generator runs."""
import shlex
import subprocess
import sys
from pathlib import Path

from PIL import Image

from wsss_zoo import cli

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "report.md").read_text(encoding="utf-8")


def test_documented_commands_parse():
    commands = [shlex.split(line)[1:] for line in DOC.splitlines() if line.startswith("wsss-zoo ")]
    assert len(commands) == 3
    for argv in commands:
        args = cli.build_parser().parse_args(argv)
        assert args.report and args.report.endswith(".html")
    assert len(cli.build_parser().parse_args(commands[2]).pred) == 2


def test_screenshot_is_linked_small_and_labelled_as_generated():
    png = ROOT / "docs" / "report.png"
    assert "(report.png)" in DOC and png.stat().st_size < 300_000
    with Image.open(png) as im:
        assert im.width >= 800 and im.height >= 800
    assert "generated data" in DOC.lower() and "not from voc" in DOC.lower()
    assert "(docs/report.png)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_example_generator_runs(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "report_example.py"), "--out", str(tmp_path),
                           "--images", "3"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "generated shapes, stand-in CAMs" in html and 'id="sweep"' in html and html.count('class="card"') == 3

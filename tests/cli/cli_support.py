"""Helpers of the command-line tests (imported by name: a module called conftest would clash
with the other test folders' conftest modules)."""
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
H, W = 48, 64


def run_cli(*args, cwd=None, timeout=300):
    """Run ``python -m wsss_zoo ARGS`` as a user would; returns the CompletedProcess (text output)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "wsss_zoo", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=timeout)


def run_main(capsys, *args):
    """Run the command line in this process (fast: torch is already imported); returns (code, out, err)."""
    from wsss_zoo.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(proc, *fragments, code=2):
    """Exit ``code``, one ``wsss-zoo: error:`` line naming the problem, and no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "wsss-zoo: error: " in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)


def png_size(path):
    """(height, width) of a PNG, after checking that it opens as one."""
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        return im.height, im.width

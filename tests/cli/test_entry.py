"""The one error path of ``main`` (wsss_zoo/cli/entry.py): a closed stdout, partial failures, exit codes."""
import os
import subprocess
import sys

from cli_support import ROOT, run_main

from wsss_zoo.cli import entry
from wsss_zoo.cli import registry_commands
from wsss_zoo.cli.messages import PartialFailure
from wsss_zoo.errors import InvalidImageError


def _pipe_into(reader: str, tmp_path):
    """``python -m wsss_zoo list --json | READER``: (exit status of the python side, its stderr)."""
    err = tmp_path / "stderr.txt"
    script = f'"{sys.executable}" -m wsss_zoo list --json 2>"{err}" | {reader} >/dev/null; echo "${{PIPESTATUS[0]}}"'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    return int(proc.stdout.strip()), err.read_text()


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path):
    # `true` has exited before python writes: every write meets a closed pipe
    status, err = _pipe_into("true", tmp_path)
    assert (status, err) == (141, "")
    # head may leave before or after the whole listing went into the pipe buffer
    status, err = _pipe_into("head -1", tmp_path)
    assert status in (0, 141) and err == ""


def test_a_broken_pipe_in_process_is_exit_141_without_a_message(capsys, monkeypatch):
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert entry.main(["list"]) == 141
    assert capsys.readouterr().err == ""


def _raising(monkeypatch, exc):
    def command(args):
        raise exc

    monkeypatch.setattr(registry_commands, "cmd_list", command)


def test_partial_failures_name_each_item_then_exit_3(capsys, monkeypatch):
    _raising(monkeypatch, PartialFailure({"a.jpg": InvalidImageError("not an image\nsecond line"),
                                          "b.jpg": "see wsss_zoo.list_models()"}, done=4))
    code, _, err = run_main(capsys, "list")
    assert code == 3
    assert err.splitlines() == ["wsss-zoo: error: a.jpg: not an image", "  second line",
                                "wsss-zoo: error: b.jpg: see wsss-zoo list"]


def test_nothing_done_is_exit_2_with_the_summary_last(capsys, monkeypatch):
    _raising(monkeypatch, PartialFailure({"x": "offline"}, done=0, nothing_done="no method could run"))
    code, _, err = run_main(capsys, "list")
    assert code == 2 and err.splitlines() == ["wsss-zoo: error: x: offline", "wsss-zoo: error: no method could run"]


def test_environment_errors_are_one_line(capsys, monkeypatch):
    _raising(monkeypatch, PermissionError(13, "Permission denied", "/out"))
    code, _, err = run_main(capsys, "list")
    assert code == 2 and err == "wsss-zoo: error: [Errno 13] Permission denied: '/out'\n"

"""The one torchrun context (issue 13): only the complete torchrun environment counts, bad values are clear
errors, and a missing peer ends the wait with a message instead of a hang."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from wsss_zoo.distributed import (DistContext, init_distributed, init_timeout, torchrun_env)
from wsss_zoo.errors import DistributedError

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun_env(rank=0, world=2, local=0, port=None, **extra):
    env = {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(local), "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(port or _free_port())}
    env.update(extra)
    return env


def test_a_plain_process_is_a_world_of_one():
    assert torchrun_env({}) is None
    assert torchrun_env({"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}) is None  # cluster profiles
    ctx = init_distributed("cpu", environ={})
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.device) == (0, 1, 0, torch.device("cpu"))
    assert ctx.is_main and not ctx.distributed


def test_torchrun_with_one_process_starts_no_group():
    env = torchrun_env(_torchrun_env(world=1, port=29500))
    assert (env.rank, env.world_size, env.master_port) == (0, 1, 29500)
    ctx = init_distributed("cpu", environ=_torchrun_env(world=1))
    assert ctx.world_size == 1 and not torch.distributed.is_initialized()


@pytest.mark.parametrize("environ, fragments", [
    ({"RANK": "1"}, ["RANK=1 is set", "WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not", "unset RANK"]),
    ({"WORLD_SIZE": "2", "RANK": "0"}, ["LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not", "torchrun"]),
    ({"LOCAL_RANK": "0", "RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "h"}, ["MASTER_PORT is not"]),
])
def test_a_partial_torchrun_environment_is_refused(environ, fragments):
    """A stray RANK=1 used to make a single process take ids[1::world] and write no manifest."""
    with pytest.raises(DistributedError) as err:
        torchrun_env(environ)
    for fragment in fragments:
        assert fragment in str(err.value)


@pytest.mark.parametrize("changes, fragment", [
    ({"WORLD_SIZE": "abc"}, "WORLD_SIZE='abc' is not a whole number"),
    ({"RANK": "x1"}, "RANK='x1' is not a whole number"),
    ({"MASTER_PORT": "http"}, "MASTER_PORT='http'"),
    ({"RANK": "2"}, "RANK=2 is outside 0..1"),
    ({"RANK": "-1"}, "RANK=-1 is outside"),
    ({"WORLD_SIZE": "0"}, "WORLD_SIZE=0"),
    ({"RANK": "1", "LOCAL_RANK": "3"}, "LOCAL_RANK=3 does not fit RANK=1"),
    ({"MASTER_PORT": "70000"}, "MASTER_PORT=70000 is not a TCP port"),
])
def test_inconsistent_values_are_refused(changes, fragment):
    with pytest.raises(DistributedError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        torchrun_env(_torchrun_env(**{}) | changes)


def test_a_lone_world_size_that_is_not_a_number_is_named():
    with pytest.raises(DistributedError, match="WORLD_SIZE='abc'"):
        torchrun_env({"WORLD_SIZE": "abc"})


def test_the_init_timeout_is_configurable_and_checked():
    assert init_timeout({}) == 90.0
    assert init_timeout({"WSSS_ZOO_DIST_TIMEOUT": "2.5"}) == 2.5
    for bad in ("abc", "0", "-3", "nan", "1e12"):
        with pytest.raises(DistributedError, match="WSSS_ZOO_DIST_TIMEOUT"):
            init_timeout({"WSSS_ZOO_DIST_TIMEOUT": bad})


@pytest.mark.parametrize("rank", [0, 1])
def test_a_missing_peer_ends_the_wait_with_a_message(rank):
    """WORLD_SIZE=2 with nobody else: rank 0 waits for a client that never comes, rank 1 for a server that
    is not there. Both used to wait forever (torch's default: 30 minutes, then a C++ traceback)."""
    environ = _torchrun_env(rank=rank, local=rank)
    start = time.monotonic()
    with pytest.raises(DistributedError) as err:
        init_distributed("cpu", init_timeout_s=1.0, environ=environ)
    assert time.monotonic() - start < 15
    assert f"rank {rank} of 2" in str(err.value) and environ["MASTER_PORT"] in str(err.value)
    assert "WSSS_ZOO_DIST_TIMEOUT" in str(err.value)
    assert not torch.distributed.is_initialized()


def test_generation_under_a_missing_peer_exits_2_with_one_line(tmp_path):
    """The command line, in a fresh process, with the timeout from the environment: exit 2, no traceback."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="",
               WSSS_ZOO_DIST_TIMEOUT="2", **_torchrun_env(rank=1, local=1))
    cmd = [sys.executable, "-m", "wsss_zoo", "pseudo-mask", "x:y", "--voc-root", str(tmp_path), "--split", "train",
           "--out", str(tmp_path / "out"), "--no-progress"]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "rank 1 of 2" in proc.stderr and "Traceback" not in proc.stderr
    assert time.monotonic() - start < 60
    assert not (tmp_path / "out").exists()


def test_a_context_built_by_hand_owns_no_group():
    ctx = DistContext(rank=1, world_size=2, local_rank=1)
    ctx.barrier()  # no group: nothing to wait for
    ctx.close()
    assert not ctx.is_main and ctx.distributed and ctx.device == torch.device("cpu")

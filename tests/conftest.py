"""Test-wide settings: an isolated cache, no network by default, deterministic threads."""
import os
import shutil

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def _isolate(mp, home):
    mp.setenv("WSSS_ZOO_HOME", str(home))
    mp.setenv("WSSS_ZOO_OFFLINE", "1")
    mp.delenv("HF_HUB_OFFLINE", raising=False)
    mp.delenv("WSSS_ZOO_HF_REPO", raising=False)


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """Module- and session-scoped fixtures are set up before any per-test fixture: without this they
    would load (and cache converted weights) into the user's real ~/.cache/torch/hub/wsss_zoo."""
    mp = pytest.MonkeyPatch()
    _isolate(mp, tmp_path_factory.mktemp("wsss_zoo_session_home"))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own WSSS_ZOO_HOME and offline mode; download tests lift it explicitly."""
    home = tmp_path_factory.mktemp("wsss_zoo_home")
    _isolate(monkeypatch, home)
    yield home
    # Converted-weight caches are 0.1-0.4 GB each; keep disk use flat over the suite.
    shutil.rmtree(home, ignore_errors=True)

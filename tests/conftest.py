"""Test-wide settings: an isolated cache, no network by default, deterministic threads."""
import os
import shutil

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own WSSS_ZOO_HOME and offline mode; download tests lift it explicitly."""
    home = tmp_path_factory.mktemp("wsss_zoo_home")
    monkeypatch.setenv("WSSS_ZOO_HOME", str(home))
    monkeypatch.setenv("WSSS_ZOO_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("WSSS_ZOO_HF_REPO", raising=False)
    yield home
    # Converted-weight caches are 0.1-0.4 GB each; keep disk use flat over the suite.
    shutil.rmtree(home, ignore_errors=True)

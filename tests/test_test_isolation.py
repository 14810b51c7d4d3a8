"""The suite never touches the user's real cache, not even from module- or session-scoped fixtures."""
import os
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def home_seen_by_a_module_fixture():
    return os.environ.get("WSSS_ZOO_HOME"), os.environ.get("WSSS_ZOO_OFFLINE")


def test_module_scoped_fixtures_get_an_isolated_offline_cache(home_seen_by_a_module_fixture, tmp_path_factory):
    home, offline = home_seen_by_a_module_fixture
    assert home is not None and offline == "1"
    assert Path(home).resolve().is_relative_to(tmp_path_factory.getbasetemp().resolve())


def test_each_test_gets_its_own_cache(_isolated_cache, home_seen_by_a_module_fixture):
    assert os.environ["WSSS_ZOO_HOME"] == str(_isolated_cache) != home_seen_by_a_module_fixture[0]

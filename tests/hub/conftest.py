"""The download tests run against a local server (tests/fixtures/http_server.py), never the network."""
import pytest

from fixtures.http_server import clean_download_env, hf_endpoint, online, server  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _clean_download_env(clean_download_env):  # noqa: F811
    """A developer's own settings must not change what these tests see."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.rendering import HOSTS, corridor, render
from tests.support import copy_site


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo site as the PKI operator's machine holds it: every key and secret."""
    root = copy_site(tmp_path_factory.mktemp("pki-machine"))
    for args in (("pki", "bootstrap"), ("jump", "enroll", "asha"),
                 ("rpt", "operator-cert", "alice")):
        result = corridor(*args, "--site", str(root))
        assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="package")
def bundles(site: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every host's bundle, rendered from that site."""
    out = tmp_path_factory.mktemp("bundles")
    for host in HOSTS:
        result = render(site, host, out / host)
        assert result.exit_code == 0, result.output
    return {host: out / host for host in HOSTS}

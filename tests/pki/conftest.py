from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from corridor.pki.cli import pki


def run(*args: str) -> tuple[int, str]:
    """`corridor pki ARGS...`: (exit code, output)."""
    result = CliRunner().invoke(pki, list(args))
    return result.exit_code, result.output


@pytest.fixture
def booted(site_dir: Path) -> Path:
    code, out = run("bootstrap", "--site", str(site_dir))
    assert code == 0, out
    return site_dir

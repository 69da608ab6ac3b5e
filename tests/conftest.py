from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import copy_site


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    """A writable copy of the demo site."""
    return copy_site(tmp_path)

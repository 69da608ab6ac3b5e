"""The version guard every patch module runs at import."""

from __future__ import annotations

import importlib
import sys

import pytest

from corridor.patches import UnsupportedVersion


def import_refused(monkeypatch: pytest.MonkeyPatch, module: str) -> str:
    """Import `module` afresh (the test has made the installed version look different)
    and return the refusal's message; the module already loaded stays in place."""
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(UnsupportedVersion) as refused:
        importlib.import_module(module)
    return str(refused.value)


def pretend_installed(monkeypatch: pytest.MonkeyPatch, distribution: str, version: str) -> None:
    """Make `importlib.metadata.version(distribution)` answer `version`."""
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: version if name == distribution else real(name))

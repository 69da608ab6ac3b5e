"""A running server's copy of the site, kept in step with the directory: a partner
onboarded, offboarded, disabled or edited, a key rotated or a certificate issued takes
effect within a second, without a restart. EIG (its partner directory), TXN and RPT each
follow the site through one `SiteWatch`.

What is watched is what partners are made of: hub.yaml, partners/*.yaml, the partners'
certificates (their pins) and the files of secrets/ (API-key hashes, callback secrets).
Their stamps (`corridor.filestamp`) are compared twice a second: a handful of `stat`
calls, and nothing read until one moved. A site that no longer loads (a half-done hand
edit) leaves the previous one in force and is logged with its faults."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from corridor.filestamp import stamps
from corridor.pki.layout import Layout
from corridor.site.faults import SiteInvalid
from corridor.site.loader import load_site
from corridor.site.model import Site

log = logging.getLogger("corridor.site.watch")
T = TypeVar("T")


def _watched(root: Path) -> list[Path]:
    layout = Layout(root)
    return [root / "hub.yaml",
            *sorted((root / "partners").glob("*.yaml")),
            *layout.partner_certificates(),  # the certificates the pins come from
            *sorted(p for p in layout.secrets.glob("*") if p.is_file())]


def _stamp(root: Path) -> tuple[object, ...]:
    """What the watched files look like now (`corridor.filestamp`)."""
    return stamps(_watched(root))


class SiteWatch(Generic[T]):
    """The site at `root` and what a server builds from it (`build(site)`, loaded at once,
    again on each change); `on_change(value)` runs after each reload."""

    def __init__(self, root: Path, build: Callable[[Site], T],
                 on_change: Callable[[T], None] | None = None) -> None:
        self.root = root
        self._build = build
        self.on_change = on_change
        self._stamp = _stamp(root)
        self.value = build(load_site(root))

    def refresh(self) -> bool:
        """Reload if a watched file moved; whether the new site is now in force."""
        now = _stamp(self.root)
        if now == self._stamp:
            return False
        self._stamp = now
        try:
            value = self._build(load_site(self.root))
        except SiteInvalid as exc:
            log.error("site changed but does not load; keeping the previous one:\n%s", exc)
            return False
        except OSError as exc:  # caught between two writes of an edit: the next one retries
            log.warning("site changed but a file cannot be read yet (%s); keeping the "
                        "previous one", exc)
            return False
        self.value = value
        if self.on_change is not None:
            self.on_change(value)
        log.info("site reloaded from %s", self.root)
        return True

    async def watch(self, interval: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.refresh()
            except Exception:  # the server must keep following its site: log, go on
                log.exception("reloading the site from %s failed", self.root)

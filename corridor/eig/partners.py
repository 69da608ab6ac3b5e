"""The partner directory the gateway checks callers against, kept in step with the site:
a `partner disable`, `partner key rotate` or `pki issue`/`pki rotate` (a new certificate in
pki/partners/, hence a new pin) takes effect within a second,
without a restart. A site that no longer loads leaves the previous directory in force."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from corridor.eig.identity import Directory
from corridor.filestamp import stamps
from corridor.pki.credentials import read_api_key_hash
from corridor.pki.layout import Layout
from corridor.site import Site, SiteInvalid, load_site

log = logging.getLogger("corridor.eig.partners")


class PartnerDirectory:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._stamp = self._read_stamp()
        self.site, self.directory = self._load()

    def _watched(self) -> list[Path]:
        layout = Layout(self.root)
        return [self.root / "hub.yaml",
                *sorted((self.root / "partners").glob("*.yaml")),
                *layout.partner_certificates(),  # the certificates the pins come from
                *sorted(layout.secrets.glob("*.apikey.hash"))]

    def _read_stamp(self) -> tuple[object, ...]:
        return stamps(self._watched())

    def _load(self) -> tuple[Site, Directory]:
        site = load_site(self.root)
        hashes = {}
        for partner in site.partners.values():
            stored = read_api_key_hash(partner.api_key_file)
            if stored is not None:
                hashes[partner.id] = stored
        return site, Directory.build(list(site.partners.values()), hashes)

    def refresh(self) -> bool:
        stamp = self._read_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            self.site, self.directory = self._load()
        except SiteInvalid as exc:
            log.error("site changed but does not load; keeping the previous partners:\n%s", exc)
            return False
        log.info("partners reloaded from %s", self.root)
        return True

    async def watch(self, interval: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval)
            self.refresh()

"""The partner directory the gateway checks callers against, kept in step with the site
(`corridor.site.watch`): a `partner onboard`, `offboard`, `disable`, `partner key rotate`
or `pki issue`/`pki rotate` (a new certificate in pki/partners/, hence a new pin) takes
effect within a second, without a restart. A site that no longer loads leaves the previous
directory in force."""

from __future__ import annotations

from pathlib import Path

from corridor.eig.identity import Directory
from corridor.pki.credentials import read_api_key_hash
from corridor.site import Site
from corridor.site.watch import SiteWatch


def _build(site: Site) -> tuple[Site, Directory]:
    hashes = {}
    for partner in site.partners.values():
        stored = read_api_key_hash(partner.api_key_file)
        if stored is not None:
            hashes[partner.id] = stored
    return site, Directory.build(list(site.partners.values()), hashes)


class PartnerDirectory:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._watch = SiteWatch(root, _build)

    @property
    def site(self) -> Site:
        return self._watch.value[0]

    @property
    def directory(self) -> Directory:
        return self._watch.value[1]

    def refresh(self) -> bool:
        return self._watch.refresh()

    async def watch(self, interval: float = 0.5) -> None:
        await self._watch.watch(interval)

"""Faults found in the site directory, each tied to `file:line`."""

from __future__ import annotations

from dataclasses import dataclass

from corridor.site.yamlines import Node


@dataclass(frozen=True, slots=True)
class Fault:
    where: Node
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class SiteInvalid(Exception):
    """The site directory has faults; nothing derived from it may be produced."""

    def __init__(self, faults: list[Fault]) -> None:
        super().__init__("\n".join(str(f) for f in faults))
        self.faults = faults


class Faults(list[Fault]):
    """Collects faults while a file is read; `add` never raises, so one pass reports all."""

    def add(self, where: Node, message: str) -> None:
        self.append(Fault(where, message))

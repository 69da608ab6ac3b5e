"""Small helpers for building and reading ISO 20022 trees with lxml, element by element
(measured faster than any data-binding serialiser: see PROVENANCE.md in `xsd/`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from lxml import etree

_HEX_ID = re.compile(r"^[0-9a-f]{32}$")


_QNAMES: dict[tuple[str, str], str] = {}
_SubElement = etree.SubElement


def sub(parent: Any, ns: str, tag: str, text: str | None = None, **attrs: str) -> Any:
    """A child element `tag` of `parent` in namespace `ns`, with its text."""
    qname = _QNAMES.get((ns, tag))
    if qname is None:
        qname = _QNAMES[(ns, tag)] = f"{{{ns}}}{tag}"
    el = _SubElement(parent, qname, attrs) if attrs else _SubElement(parent, qname)
    if text is not None:
        el.text = text
    return el


def document(ns: str, body: str) -> tuple[Any, Any]:
    """(root Document, its message element `body`)."""
    root = etree.Element(f"{{{ns}}}Document", nsmap={None: ns})
    return root, sub(root, ns, body)


_PATHS: dict[tuple[str, str], str] = {}


def find(el: Any, ns: str, path: str) -> str | None:
    """The text at `path` ("A/B/C") below `el`, or None (also for an empty element)."""
    qpath = _PATHS.get((ns, path))
    if qpath is None:
        qpath = _PATHS[(ns, path)] = "/".join(f"{{{ns}}}{p}" for p in path.split("/"))
    text: str | None = el.findtext(qpath)
    return text or None


def message_id(transfer_id: str) -> str:
    """A transfer id (UUIDv7, 36 characters) as an ISO identifier (Max35Text): its 32 hex
    digits. The same transfer always gives the same identifier."""
    return transfer_id.replace("-", "")


def transfer_id(identifier: str | None) -> str | None:
    """The transfer id back from `message_id`; other identifiers pass unchanged."""
    if identifier and _HEX_ID.match(identifier):
        h = identifier
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return identifier


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

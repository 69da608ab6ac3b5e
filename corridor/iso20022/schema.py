"""Parsing and validating ISO 20022 messages, strictly, with lxml.

Every message is parsed with entities, DTD loading and network access off and huge trees
refused; a document with a DOCTYPE at all is refused unread (`xml_forbidden`), so neither
entity expansion nor an external reference can reach anything. The parsed tree is then
validated against the official XSD of its message and version (shipped in `xsd/` with
their provenance, loaded once per process); anything Corridor builds is validated the
same way before it leaves.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib import resources
from typing import Any

from lxml import etree

from corridor.iso20022.errors import MessageRefused

# The messages Corridor speaks, by the name their namespace ends with.
MESSAGES = ("pacs.008.001.08", "pacs.002.001.10", "pacs.028.001.03", "pacs.004.001.09",
            "camt.056.001.09")
NS_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"
MAX_MESSAGE = 64 * 1024

_local = threading.local()


def namespace(message: str) -> str:
    return NS_PREFIX + message


def _parser() -> etree.XMLParser:
    """One strict parser per thread (lxml parsers are not shared across threads)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                                 load_dtd=False, dtd_validation=False, remove_pis=True,
                                 remove_comments=True)
        _local.parser = parser
    return parser


@cache
def schema(message: str) -> etree.XMLSchema:
    """The XSD of `message` (e.g. "pacs.002.001.10"), loaded once."""
    if message not in MESSAGES:
        raise KeyError(message)
    data = resources.files("corridor.iso20022").joinpath(f"xsd/{message}.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(data, _parser()))


def parse(body: bytes, *expected: str) -> tuple[str, Any]:
    """(message name, root element) of `body`, one of the `expected` messages, parsed
    strictly and valid against its XSD; or MessageRefused with the code a partner sees."""
    if len(body) > MAX_MESSAGE:
        raise MessageRefused(f"the message is larger than {MAX_MESSAGE} bytes",
                             code="body_too_large", status=413)
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise MessageRefused("a DOCTYPE or entity declaration is not accepted",
                             code="xml_forbidden")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise MessageRefused(f"the body is not well-formed XML: {exc}"[:300],
                             code="malformed_xml") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise MessageRefused("a DOCTYPE is not accepted", code="xml_forbidden")
    ns = etree.QName(root).namespace or ""
    message = ns[len(NS_PREFIX):] if ns.startswith(NS_PREFIX) else ""
    if message not in expected or etree.QName(root).localname != "Document":
        raise MessageRefused(
            f"expected a {' or '.join(expected)} Document, got {{{ns}}}"
            f"{etree.QName(root).localname}"[:300], code="wrong_message", status=422)
    check(message, root)
    return message, root


def check(message: str, root: Any) -> None:
    """Refuse (`schema_invalid`, 422) a tree that is not valid against its XSD."""
    xsd = schema(message)
    if not xsd.validate(root):
        error = xsd.error_log.last_error
        raise MessageRefused(f"not a valid {message}: line {error.line}: {error.message}"[:300],
                             code="schema_invalid", status=422)


def serialise(message: str, root: Any) -> bytes:
    """The built tree as bytes, after checking it against its XSD: the hub never sends a
    message its schema refuses."""
    check(message, root)
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return data

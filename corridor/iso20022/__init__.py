"""ISO 20022 as an adapter: building, strictly parsing and validating the messages
Corridor speaks with banks (pacs.008, pacs.002, pacs.028, pacs.004, camt.056), against
the official XSDs shipped in `xsd/` with their provenance. No I/O beyond reading those
files; the connectors (corridor.txn.iso_connector, corridor.txn.iso_callbacks), the
gateway's ISO doors (corridor.eig.iso) and the simulator's ISO mode use it."""

from corridor.iso20022 import camt056, codes, pacs002, pacs004, pacs008, pacs028
from corridor.iso20022.errors import MessageRefused
from corridor.iso20022.schema import MESSAGES, check, parse, schema

CONTENT_TYPE = "application/xml"

__all__ = ["CONTENT_TYPE", "MESSAGES", "MessageRefused", "camt056", "check", "codes",
           "pacs002", "pacs004", "pacs008", "pacs028", "parse", "schema"]

"""ISO 20022 as an adapter: building, strictly parsing and validating the messages
Corridor speaks with banks (pacs.008, pacs.002, pacs.028), against the official XSDs
shipped in `xsd/` with their provenance. No I/O beyond reading those files; the
connector (corridor.txn.iso_connector), the gateway's ISO routes (corridor.eig.iso) and
the simulator's ISO mode use it."""

from corridor.iso20022 import codes, pacs002, pacs008, pacs028
from corridor.iso20022.errors import MessageRefused
from corridor.iso20022.schema import MESSAGES, check, parse, schema

CONTENT_TYPE = "application/xml"

__all__ = ["CONTENT_TYPE", "MESSAGES", "MessageRefused", "check", "codes", "pacs002",
           "pacs008", "pacs028", "parse", "schema"]

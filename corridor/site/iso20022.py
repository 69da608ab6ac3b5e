"""The `iso20022` block of a partner file: how a bank partner is known in ISO 20022 and
which message versions it speaks.

    iso20022:
      bic: KCBLKENX            # BICFI (8 or 11), or
      clearing_id: "01234"     # a clearing-system member id (with clearing_system)
      clearing_system: KENSS   # optional ExternalClearingSystemIdentification1Code
      messages: [pacs.008.001.08, pacs.002.001.10, pacs.028.001.03]

A receive partner with `connector: iso20022` needs the block; a send partner that has it
sends pacs.008 to EIG and hears pacs.002 callbacks instead of JSON.
"""

from __future__ import annotations

import re

from corridor.site.faults import Faults
from corridor.site.fields import Reader
from corridor.site.model import Iso20022

BIC = re.compile(r"^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
# The versions Corridor builds and validates (the XSDs of corridor/iso20022/xsd/).
SUPPORTED = ("pacs.008.001.08", "pacs.002.001.10", "pacs.028.001.03", "pacs.004.001.09",
             "camt.056.001.09")
REQUIRED = ("pacs.008.001.08", "pacs.002.001.10")


def read_iso20022(r: Reader, faults: Faults) -> Iso20022 | None:
    r.allow_only("bic", "clearing_id", "clearing_system", "messages")
    bic = r.str("bic", required=False)
    clearing_id = r.str("clearing_id", required=False)
    clearing_system = r.str("clearing_system", required=False)
    if bic is not None and not BIC.match(bic):
        faults.add(r.at("bic"), f"iso20022.bic {bic!r} is not a BIC (4 letters or digits, "
                   "country, 2 location, optional 3 branch)")
        return None
    if bic is None and clearing_id is None:
        faults.add(r.data.where, "iso20022 needs a bic or a clearing_id")
        return None
    if clearing_id is not None and not 1 <= len(clearing_id) <= 35:
        faults.add(r.at("clearing_id"), "iso20022.clearing_id is 1 to 35 characters")
        return None
    messages = r.strings("messages", required=False) or REQUIRED
    for m in messages:
        if m not in SUPPORTED:
            faults.add(r.at("messages"), f"iso20022 message {m!r} is not one Corridor speaks "
                       f"({', '.join(SUPPORTED)})")
            return None
    for m in REQUIRED:
        if m not in messages:
            faults.add(r.at("messages"), f"iso20022.messages must include {m}")
            return None
    return Iso20022(bic=bic, clearing_id=clearing_id, clearing_system=clearing_system,
                    messages=tuple(messages))

"""Why an ISO 20022 message is refused. Each refusal is a `CorridorError` (its `code` is
the problem+json code of the JSON API) that also carries the ISO status reason code a
pacs.002 RJCT answers with, taken from the one table in `corridor.iso20022.codes`.

    CorridorError
      MessageRefused (400/422): malformed_xml, xml_forbidden, schema_invalid, wrong_message,
                               invalid_amount, ...
"""

from __future__ import annotations

from corridor.core.errors import CorridorError


class MessageRefused(CorridorError):
    status = 400
    code = "malformed_xml"

    def __init__(self, detail: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(detail, code=code)
        if status is not None:
            self.status = status

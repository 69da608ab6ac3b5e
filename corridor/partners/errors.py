"""Why an onboarding or an offboarding was refused. Each leaves the site as it was.

    CorridorError
     ├── PartnerChangeRefused   422 partner_change_refused: a bad request, an unknown or
     │                          offboarded partner, a kit in the way, a CSR made for another
     │                          subject, the tunnel or firewall tools refusing what the site
     │                          would render
     └── InFlight               409 partner_in_flight: transfers not yet final, and no (or an
                                unmet) instruction on how to treat them
"""

from __future__ import annotations

from corridor.core.errors import Conflict, InvalidInput


class PartnerChangeRefused(InvalidInput):
    code = "partner_change_refused"
    title = "Partner change refused"


class InFlight(Conflict):
    code = "partner_in_flight"
    title = "The partner has transfers in flight"

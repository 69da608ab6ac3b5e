"""`corridor ledger verify`: the invariants of docs/design.md (Money and transfer
conventions), judged from the store.

- every journal balances per currency;
- every running balance equals the sum of its entries;
- no float is below its floor (available = posted + pending);
- no transfer is paid out more than once;
- no transfer is returned more than once;
- each transfer's state agrees with its float legs (reserved while ACCEPTED, SUBMITTED or
  UNKNOWN; posted once COMPLETED; once RETURNED, posted less what the return gave back
  (`core.returns`); nothing left otherwise).
"""

from __future__ import annotations

from corridor.core.money import format_minor
from corridor.core.returns import return_terms
from corridor.core.states import RESERVED, Status
from corridor.site.model import Site
from corridor.store import Connection
from corridor.store import reads as q


def violations(site: Site, conn: Connection) -> list[str]:
    out: list[str] = []
    for journal, currency, total in q.unbalanced_journals(conn):
        out.append(f"journal {journal} does not balance: {currency} {int(total):+d}")
    for account, posted, pending in q.drifted_balances(conn):
        out.append(f"account {account} balance ({posted}, {pending}) differs from its entries")
    for account, currency, posted, pending in q.balances(conn):
        if not account.startswith("float:"):
            continue
        partner = site.partner(account.split(":")[1])
        floor = (partner.float_floor if partner is not None else None) or 0
        if int(posted) + int(pending) < floor:
            out.append(f"{account} is below its floor: available "
                       f"{format_minor(int(posted) + int(pending), currency)}")
    for transfer_id, journals in q.double_payouts(conn):
        out.append(f"transfer {transfer_id} was paid out {journals} times")
    for transfer_id, journals in q.double_returns(conn):
        out.append(f"transfer {transfer_id} was returned {journals} times")
    returned = q.returned_amounts(conn)
    for transfer_id, status, total, pending, posted in q.transfer_float_legs(conn):
        total, pending, posted = int(total), int(pending), int(posted)
        if status in RESERVED:
            expected = (-total, 0)
        elif status == Status.COMPLETED:
            expected = (0, -total)
        elif status == Status.RETURNED:
            amounts = returned.get(transfer_id)
            if amounts is None:
                continue  # returned between the two reads: judged on the next run
            expected = (0, -total + return_terms(*amounts).float_credit)
        else:
            expected = (0, 0)
        if (pending, posted) != expected:
            out.append(f"transfer {transfer_id} is {status} but its float legs are "
                       f"pending {pending}, posted {posted} (expected {expected[0]}, "
                       f"{expected[1]})")
    return out

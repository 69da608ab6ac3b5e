"""`corridor partner offboard`: shut every door of a partner, keep its history.

First the transfers still in flight, which the partner sent or is paying out. A transfer is
someone's money on its way: offboarding never strands one silently, so by default it is
refused while any is in flight (`refuse`). The operator may instead say how to treat them:

- `cancel`: cancel those not yet submitted to the receive partner (ACCEPTED, COMPLIANCE_HOLD:
  the sender's float reservation is released and the sender is told CANCELLED), and wait up
  to the deadline for the others (SUBMITTED, UNKNOWN: the money is with the receive partner
  and only it can say how they end; RECEIVED: being screened) to reach a final state.
- `wait`: cancel nothing and wait up to the deadline for all of them to end. To stop new
  transfers meanwhile, `corridor partner disable` the partner first: EIG refuses it, while
  TXN keeps paying out, asking for status and delivering callbacks.

When some are still in flight at the deadline the offboarding is refused and the site is
left as it was (transfers cancelled on the way stay cancelled: that was asked for).

Then, staged and committed all or nothing (`corridor.site.staging`): the client certificate
is revoked (the partner CA's CRL, which EIG reloads: TLS handshakes fail), the API-key hash,
the PSK and any key pair the hub made for it are deleted, and the partner file is marked
`disabled: true` and `offboarded: <time>`, so that nothing renders a tunnel or an allowlist
for it. The file, its certificate and its callback secret stay, so its transfers, reports,
statements and audit lines still name a partner the site knows (and parked callbacks can
still be replayed). Last, the perimeter is applied where it runs (`corridor.net.perimeter`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from corridor.core.errors import Conflict
from corridor.core.states import CANCELLABLE, Status
from corridor.core.times import rfc3339
from corridor.net import perimeter
from corridor.partners.errors import InFlight, PartnerChangeRefused
from corridor.partners.log import PartnerLog
from corridor.pki.authority import revoke_partner
from corridor.pki.layout import Layout
from corridor.site.edit import SiteEdit
from corridor.site.loader import load_site
from corridor.site.staging import SiteTransaction
from corridor.store import Connection, TransferRow, commit_group
from corridor.store import reads as q
from corridor.txn.commands.transfers import CancelTransfer


class InFlightPolicy(StrEnum):
    REFUSE = "refuse"
    CANCEL = "cancel"
    WAIT = "wait"


@dataclass(frozen=True, slots=True)
class Offboarding:
    partner: str
    in_flight: InFlightPolicy = InFlightPolicy.REFUSE
    wait_s: float = 0.0  # how long in-flight transfers may take to end (cancel, wait)
    reason: str = "partner offboarded"  # recorded on each transfer cancelled


@dataclass(slots=True)
class Offboarded:
    partner: str
    serial: int | None  # the certificate revoked (None: none had been issued)
    changed: list[str]
    cancelled: list[str]
    applied: list[perimeter.Applied] = field(default_factory=list)


def offboard(site_dir: Path, request: Offboarding, conn: Connection,
             target: perimeter.Target, data_dir: Path, apply: bool = True) -> Offboarded:
    """Offboard `request.partner`; `InFlight` or `PartnerChangeRefused` (or `SiteInvalid`)
    with the site unchanged when refused. `conn` is TXN's store, for the transfers."""
    pid = request.partner
    partner = load_site(site_dir).partner(pid)
    if partner is None:
        raise PartnerChangeRefused(f"no partner {pid!r} in {site_dir}/partners")
    if partner.offboarded:
        raise PartnerChangeRefused(f"{pid} was offboarded at {partner.offboarded}")
    with PartnerLog(data_dir) as journal:
        try:
            cancelled = settle_in_flight(conn, pid, request)
        except InFlight as exc:
            if exc.extra["cancelled"]:  # what was done before the refusal is recorded
                journal.record("offboard refused", pid, reason=exc.detail,
                               cancelled=exc.extra["cancelled"])
            raise
        serial, changed = _stage_and_commit(site_dir, pid, target)
        done = Offboarded(pid, serial, changed, cancelled)
        if apply:
            done.applied = perimeter.apply(load_site(site_dir), target, data_dir)
        journal.record("offboard", pid, changed=changed,
                       serial=None if serial is None else f"{serial:x}",
                       in_flight=str(request.in_flight), cancelled=cancelled,
                       perimeter=[str(a) for a in done.applied])
    return done


def _stage_and_commit(site_dir: Path, pid: str, target: perimeter.Target
                      ) -> tuple[int | None, list[str]]:
    """Revoke, delete and mark on a staged copy, check it, commit it: (the serial revoked,
    the files changed)."""
    with SiteTransaction(site_dir) as tx:
        staged = tx.check()
        partner = staged.partners[pid]
        cert, own_key = Layout(tx.root).partner(pid)
        serial = revoke_partner(staged, pid) if cert.exists() else None
        own_key.unlink(missing_ok=True)
        partner.api_key_file.unlink(missing_ok=True)
        if partner.tunnel is not None and partner.tunnel.psk_file is not None:
            partner.tunnel.psk_file.unlink(missing_ok=True)
        edit = SiteEdit(tx.root)
        edit.set(partner.source, ("disabled",), True)
        edit.set(partner.source, ("offboarded",), rfc3339(datetime.now(UTC)))
        edit.commit()
        problems = perimeter.check(tx.check(), target)
        if problems:
            raise PartnerChangeRefused(tx.unstaged("; ".join(problems)))
        return serial, tx.commit()


def settle_in_flight(conn: Connection, partner_id: str, request: Offboarding,
                     clock: Callable[[], float] = time.monotonic,
                     pause: Callable[[float], None] = time.sleep) -> list[str]:
    """Treat the partner's transfers in flight as `request` says; returns the ids cancelled.
    Raises `InFlight` while any remains in flight (at once for `refuse`, at the deadline
    otherwise)."""
    deadline = clock() + request.wait_s
    cancelled: list[str] = []
    while True:
        rows = q.in_flight(conn, partner_id)
        if request.in_flight is InFlightPolicy.CANCEL and any(
                Status(r.status) in CANCELLABLE for r in rows):
            cancelled += _cancel(conn, rows, request.reason)
            rows = q.in_flight(conn, partner_id)
        if not rows:
            return cancelled
        left = deadline - clock()
        if request.in_flight is InFlightPolicy.REFUSE or left <= 0:
            raise InFlight(_refusal(partner_id, rows, request, cancelled), cancelled=cancelled)
        pause(min(1.0, left))


def _cancel(conn: Connection, rows: list[TransferRow], reason: str) -> list[str]:
    done = []
    for row in rows:
        if Status(row.status) not in CANCELLABLE:
            continue
        command = CancelTransfer(None, None, "", row.id, reason, datetime.now(UTC))
        outcome = commit_group(conn, [command])[0]
        if isinstance(outcome.error, Conflict):
            continue  # submitted meanwhile: it is waited for like the others
        if outcome.error is not None:
            raise outcome.error
        done.append(row.id)
    return done


def _refusal(partner_id: str, rows: list[TransferRow], request: Offboarding,
             cancelled: list[str]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    states = ", ".join(f"{s} {n}" for s, n in sorted(counts.items()))
    head = f"{partner_id} has {len(rows)} transfer(s) in flight ({states})"
    if request.in_flight is InFlightPolicy.REFUSE:
        return (f"{head}; nothing changed. --in-flight cancel cancels those not yet "
                "submitted and waits for the rest, --in-flight wait waits for all (--wait S)")
    done = f"; {len(cancelled)} cancelled on the way" if cancelled else ""
    return f"{head} after {request.wait_s:g} s{done}; the site is unchanged"

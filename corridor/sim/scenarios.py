"""The sandbox's test accounts (`corridor sandbox`, docs/sandbox.md): beneficiary wallets of
the receive simulator whose payouts end a known way, so that a send partner's developers
produce each outcome on demand through the real hub. A receive simulator started with
`--sandbox` plays them; without it (the demo, the tests' worlds) it knows none.

- slots 1..400 (254700000001.. in KE): COMPLETED (credited, PENDING, SUCCESS callback);
- FROZEN_SLOT 999999 (254700999999): FAILED, the wallet is frozen;
- UNKNOWN_SLOT 999001 (254700999001): UNKNOWN, then COMPLETED. Credited, but every submit
  is answered 503 and no callback comes; the hub's status query then hears SUCCESS.
- RETURNED_SLOT 999002 (254700999002): COMPLETED, then RETURNED: credited as usual, and the
  wallet gives the funds back RETURN_AFTER_S later (a `RETURNED` receiver callback).

Outcomes that depend on the hub rather than the receive partner (compliance hold and
information request, rate stale) are listed in `corridor.sandbox.OUTCOMES`.
"""

from __future__ import annotations

from corridor.sim.wallets import FROZEN_SLOT, holder_name, wallet_account

UNKNOWN_SLOT = 999_001
UNKNOWN_THEN_COMPLETED = "unknown_then_completed"
RETURNED_SLOT = 999_002
RETURNED_LATER = "returned_later"
RETURN_AFTER_S = 3.0


def scenario_wallets(country: str) -> dict[str, tuple[str, str]]:
    """account -> (holder name, scenario) of the wallets a sandbox adds to the book."""
    return {wallet_account(country, UNKNOWN_SLOT): (holder_name(UNKNOWN_SLOT),
                                                    UNKNOWN_THEN_COMPLETED),
            wallet_account(country, RETURNED_SLOT): (holder_name(RETURNED_SLOT),
                                                     RETURNED_LATER)}


def frozen_wallet(country: str) -> str:
    return wallet_account(country, FROZEN_SLOT)

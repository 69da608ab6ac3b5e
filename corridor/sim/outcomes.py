"""The receiver callbacks that tell the hub each payout's outcome, sent as the fault
knobs say: not at all, late, twice, before the submit is answered, or a contrary SUCCESS
after a FAILURE. `CallbackSender` delivers them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from corridor.api.schemas import ReceiverCallback
from corridor.core.times import rfc3339
from corridor.sim.callbacks import CallbackSender, Delivery
from corridor.sim.faults import InjectedFaults
from corridor.sim.payouts import Payout

Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


class OutcomeCallbacks:
    def __init__(self, sender: CallbackSender, faults: InjectedFaults, spawn: Spawn) -> None:
        self.sender, self.faults, self._spawn = sender, faults, spawn

    def report(self, payout: Payout) -> asyncio.Event | None:
        """Queue the outcome's callback(s) as the fault knobs say; the first delivery's
        done event, for `callback_first`."""
        if not self.faults.callbacks:
            return None
        first = self._callback(payout, payout.status, payout.reason)
        if not self.faults.callback_delay_ms and not self.faults.callback_first:
            self._send_all(payout, first)
            return None
        done = asyncio.Event()

        async def later() -> None:
            if self.faults.callback_delay_ms:
                await asyncio.sleep(self.faults.callback_delay_ms / 1000)
            deliveries = self._send_all(payout, first)
            assert deliveries[0].done is not None
            await deliveries[0].done.wait()
            done.set()

        self._spawn(later())
        return done

    def returned(self, payout: Payout) -> Delivery:
        """Tell the hub the payout was given back (`RETURNED`, with its reason)."""
        callback = self._callback(payout, "RETURNED", payout.return_reason)
        callback.return_reference = payout.return_reference
        return self.sender.send(callback)

    def recall_refused(self, payout: Payout, reason: str) -> Delivery:
        """Tell the hub, later than its recall's answer, that the recall is refused."""
        return self.sender.send(self._callback(payout, "RECALL_REFUSED", reason))

    def _send_all(self, payout: Payout, first: ReceiverCallback) -> list[Delivery]:
        trace = payout.traceparent
        deliveries = [self.sender.send(first, trace)]
        if self.faults.duplicate_callback:
            deliveries.append(self.sender.send(first, trace))
        if self.faults.success_after_failure and payout.status == "FAILURE":
            contrary = self._callback(payout, "SUCCESS", None)
            self._spawn(self._after(deliveries[0], contrary, trace))
        if self.faults.pending_after_final:
            late = self._callback(payout, "PENDING", None)
            self._spawn(self._after(deliveries[0], late, trace))
        return deliveries

    async def _after(self, first: Delivery, then: ReceiverCallback,
                     trace: str | None) -> None:
        """Send `then` once `first` is settled, so the hub sees them in that order."""
        assert first.done is not None
        await first.done.wait()
        self.sender.send(then, trace)

    def _callback(self, payout: Payout, status: str, reason: str | None) -> ReceiverCallback:
        return ReceiverCallback(
            transfer_id=payout.request.payout_id, status=status,  # type: ignore[arg-type]  # callers pass only the Literal's statuses
            partner_reference=payout.answer.partner_reference, reason=reason,
            at=rfc3339(datetime.now(UTC)),
        )

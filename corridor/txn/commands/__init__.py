"""TXN's use cases, each a command the group-commit writer runs inside one transaction,
one module per family: quotes, transfers, floats (deposits and reservations), compliance,
payouts, the outbox, reconciliation and idempotency keys.

A command first names what it will read (`needs`), then checks everything it can refuse
on before it writes into its `Changes`; a refusal raises a `CorridorError` and leaves no
trace. Every state change goes through `transitions.change` (and so through
`core.states.check_transition`), writes a `transfer.status` event and, where the partner
must hear of it, an outbox message.
"""

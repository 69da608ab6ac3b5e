"""TXN's commands, a module each: `serve txn`, `store init`, and the operator groups
`ledger`, `compliance`, `transfers`, `reconcile` and `callbacks`. Operator commands write
through the same commands as the server, in their own transaction, so they can run beside
it; they open only a store that is there (`serve txn` and `store init` make it)."""

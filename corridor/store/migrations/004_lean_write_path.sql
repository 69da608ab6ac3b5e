-- Indexes that every accepted transfer paid for and no hot path reads.
-- outbox_open (kind, state, due_at) serves every claim; (state, due_at) alone served none.
DROP INDEX outbox_due;
-- Six ledger legs per transfer each wrote this index; only `corridor ledger verify` reads
-- entries by transfer, and it aggregates them in one pass instead.
DROP INDEX entries_transfer;

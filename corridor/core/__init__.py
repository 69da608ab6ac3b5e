"""The domain: money, pricing, compliance rules, the transfer state machine and ledger
postings. Pure Python: no I/O, no clock reads (time is passed in), no framework."""

"""The domain: money, pricing, compliance rules, the transfer state machine and ledger
postings. Pure Python: no I/O, no clock reads (time is passed in), no framework, and
nothing else of corridor: the site loader builds the values it reasons about
(tests/core/test_standalone.py holds it to that)."""

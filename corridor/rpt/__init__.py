"""RPT, the reporting server: follows TXN's ordered event feed into its own DuckDB store and
serves partner reports, daily settlement statements, compliance metrics and the operator
dashboard. It never writes TXN's tables; `corridor rpt verify` checks it against TXN's ledger.
"""

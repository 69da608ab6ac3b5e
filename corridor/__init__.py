"""Corridor: a cross-border remittance hub."""

__version__ = "0.1.0"

"""Probes: one module per kind (columns, inquiry, freshness, privacy)."""

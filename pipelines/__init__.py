"""Batch stages: load, check (and, as they land: ingest, refine, extract, bench, build, debug, patch)."""

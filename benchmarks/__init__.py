"""Benchmarks: ``python -m benchmarks`` runs them all and prints figures for RESULTS.md."""

"""Benchmarks of fhirip, run with `make bench` (python -m bench.run)."""

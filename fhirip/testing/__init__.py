"""Tools for running fhirip against real databases in tests and benchmarks."""

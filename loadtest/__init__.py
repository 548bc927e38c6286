"""Load and throughput benchmarks (not part of the installed package)."""

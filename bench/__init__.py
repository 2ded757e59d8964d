"""Benchmark script and its helpers (`python -m bench.run`); see bench/README.md."""

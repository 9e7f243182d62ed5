"""The parts of `benchmarks/run.py`, which measures the mock's speed."""

"""Side-by-side benchmarks of dann's ops: `python -m benchmarks` (see docs/benchmarks.md)."""

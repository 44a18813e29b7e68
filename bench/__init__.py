"""Benchmarks: figures printed side by side with the peers, never timed assertions."""

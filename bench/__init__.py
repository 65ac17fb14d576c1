"""Benchmark suite: consentcam's face pipeline, job queue and matcher against the naive baseline."""

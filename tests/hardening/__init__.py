"""Hardening tests: hostile uploads, web security, data at rest, faults and scale-out."""

"""Tests that run the whole product on PostgreSQL."""

"""Query-count tests: pages must not issue a query per row."""

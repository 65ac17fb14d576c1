"""Use cases: each takes a Session, loads rows, calls the domain, writes events, and commits."""

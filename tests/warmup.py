"""Compile the modules a test run imports, once, before its processes start.

`./run tests` runs this beside the checks (ruff and mypy keep one core busy; this takes the
other), with the run's shared bytecode cache (PYTHONPYCACHEPREFIX). Without it, each test
process and each server a test starts early would compile the same modules at the same time.
Nothing is asserted here: a module that fails to import is left to the tests to report.
"""

from __future__ import annotations

import importlib

MODULES = (
    "consentcam.web",
    "consentcam.cli",
    "consentcam.jobs",
    "consentcam.faces",
    "consentcam.reports.pdf",
    "sqlalchemy.dialects.postgresql",
    "psycopg",
    "redis",
    "pytest",
    "xdist",
    "hypothesis",
    "schemathesis",
    "playwright.sync_api",
    "pypdf",
    "aiosmtpd.controller",
    "tests.conftest",
)


def main() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001, S112 - the tests report what cannot be imported
            continue


if __name__ == "__main__":
    main()

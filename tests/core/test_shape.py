"""The code's shape holds: short functions and modules, one place that commits, web/ without SQL."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "consentcam"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 500


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _long_functions(path: Path, limit: int) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return [
        f"{name}:{node.lineno} {node.name} ({(node.end_lineno or 0) - node.lineno + 1})"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > limit
    ]


def test_no_function_is_over_sixty_lines() -> None:
    found = [line for path in _sources() for line in _long_functions(path, MAX_FUNCTION_LINES)]
    assert not found, "\n".join(found)


def test_no_module_is_over_five_hundred_lines() -> None:
    found = [
        f"{p.relative_to(ROOT)} ({n})"
        for p in _sources()
        if (n := len(p.read_text("utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not found, "\n".join(found)


def test_the_checks_catch_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    sample = tmp_path / "sample.py"
    sample.write_text(f"def long():\n{body}\n\ndef short():\n    return 1\n")
    assert [line.split()[1] for line in _long_functions(sample, MAX_FUNCTION_LINES)] == ["long"]


COMMIT = re.compile(r"\.(commit|rollback)\(\)")


def test_only_the_unit_of_work_commits() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in _sources()
        if p.name != "uow.py"
        for n, line in enumerate(p.read_text("utf-8").splitlines(), 1)
        if COMMIT.search(line)
    ]
    assert not found, "\n".join(found)


def test_web_has_no_sql() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    contracts = {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}
    assert not contracts["web-no-sql"].get("ignore_imports"), "web/ must ask the services"
    calls = re.compile(r"\bdb\(\)\.(scalars?|execute|get|query)\(")
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in sorted((PACKAGE / "web").rglob("*.py"))
        for n, line in enumerate(p.read_text("utf-8").splitlines(), 1)
        if calls.search(line) or re.match(r"\s*(import|from) sqlalchemy", line)
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("module", ["consentcam.services", "consentcam.jobs"])
def test_services_and_jobs_never_import_flask(module: str) -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    contracts = {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}
    rule = contracts["services-no-flask"]
    assert module in rule["source_modules"]
    assert not rule.get("ignore_imports")

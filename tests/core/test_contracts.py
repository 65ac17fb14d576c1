"""The code's contracts run, and catch what they are for: ruff, mypy, import-linter, CI's order."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import consentcam

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )


def _contracts() -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in PYPROJECT["tool"]["importlinter"]["contracts"]}


def test_the_import_contracts_hold() -> None:
    done = _run(str(BIN / "lint-imports"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
    for contract in _contracts().values():
        assert f"{contract['name']} KEPT" in done.stdout, contract["name"]


def test_an_import_that_breaks_a_contract_fails_the_check(tmp_path: Path) -> None:
    # The same tool on the real code, with one rule the web layer is known to break.
    config = tmp_path / "contracts.toml"
    config.write_text(
        "[tool.importlinter]\n"
        'root_package = "consentcam"\n'
        "include_external_packages = true\n"
        "[[tool.importlinter.contracts]]\n"
        'name = "web without Flask"\n'
        'type = "forbidden"\n'
        'source_modules = ["consentcam.web.auth"]\n'
        'forbidden_modules = ["flask"]\n'
    )
    done = _run(str(BIN / "lint-imports"), str(config))
    assert done.returncode != 0
    assert "web without Flask BROKEN" in done.stdout
    assert "consentcam.web.auth -> flask" in done.stdout


def test_the_face_engine_rule_covers_every_module_but_faces() -> None:
    sources = set(_contracts()["face-engines"]["source_modules"])
    modules = {f"consentcam.{m.name}" for m in pkgutil.iter_modules(consentcam.__path__)}
    assert sources == modules - {"consentcam.faces"}, "list each new top-level module there"
    forbidden = set(_contracts()["face-engines"]["forbidden_modules"])
    assert {"dlib", "face_recognition", "ai_edge_litert"} <= forbidden


def test_ruff_is_clean() -> None:
    for args in (("check", "."), ("format", "--check", ".")):
        done = _run(str(BIN / "ruff"), *args)
        assert done.returncode == 0, done.stdout[-3000:]


@pytest.mark.slow
def test_mypy_checks_the_whole_package_and_passes() -> None:
    assert PYPROJECT["tool"]["mypy"]["files"] == ["consentcam", "tests"]
    strict = [o for o in PYPROJECT["tool"]["mypy"]["overrides"] if o.get("disallow_untyped_defs")]
    assert {"consentcam.domain.*", "consentcam.faces.*"} <= set(strict[0]["module"])
    assert strict[0]["warn_return_any"] and strict[0]["disallow_any_generics"]
    # The tests are checked too: every test and fixture typed, and no ignore left unused.
    tests = next(o for o in strict if o["module"] == ["tests.*"])
    assert tests["disallow_incomplete_defs"] and tests["warn_unused_ignores"]
    # No module is left out: the whole package type-checks.
    assert not [o for o in PYPROJECT["tool"]["mypy"]["overrides"] if o.get("ignore_errors")]
    done = _run(str(BIN / "mypy"))
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Success: no issues found" in done.stdout


def test_ci_runs_every_check_before_the_tests() -> None:
    assert "exec ./run tests" in (ROOT / ".ci" / "run").read_text()
    script = (ROOT / "run").read_text()
    tests_branch = script[script.index("\n  tests)") :]
    tests_branch = tests_branch[: tests_branch.index(";;")]
    assert tests_branch.index("run_checks") < tests_branch.index(" run pytest")
    checks = script[script.index("run_checks() {") :]
    checks = checks[: checks.index("\n}\n")]
    for command in ("ruff check .", "ruff format --check .", "mypy", "lint-imports"):
        assert f" run {command} ||" in checks, command
    assert "return 1" in checks


def test_the_tests_silence_no_type_error() -> None:
    """Every test and fixture is typed: the tests silence no mypy error, except where a module
    replaces a library's method on purpose (mypy's method-assign code says just that)."""
    needle = "type: " + "ignore"  # written in two parts, so this file does not match itself
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1)
        if needle in line and f"{needle}[method-assign]" not in line
    ]
    assert not found, "\n".join(found)

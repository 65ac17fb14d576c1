"""Run the benchmark cases and print/write the results table (``python -m bench --help``)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine
from bench.cases import CASES, Context, Row
from consentcam.config import DEFAULTS

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
#: Modules whose @case functions join the registry (append yours: page latency, audit timings).
CASE_MODULES = (
    "bench.cases",
    "bench.queue_case",
    "bench.pages_case",
    "bench.audit_case",
    "bench.detect_cases",
)
COLUMNS = ("case", "ours", "baseline", "ratio", "target", "met?")


def load_cases() -> None:
    for name in CASE_MODULES:
        importlib.import_module(name)


def _met(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "**NO**")


def markdown_table(rows: list[dict[str, Any]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|")

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        values = [r["case"], r["ours"], r["baseline"], r["ratio"], r["target"], _met(r["met"])]
        lines.append("| " + " | ".join(cell(v) for v in values) + " |")
    return "\n".join(lines)


def text_table(rows: list[dict[str, Any]]) -> str:
    table = [list(COLUMNS)] + [
        [r["case"], r["ours"], r["baseline"], r["ratio"], r["target"], _met(r["met"]).strip("*")]
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(COLUMNS))]
    out = []
    for n, line in enumerate(table):
        out.append("  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def results_markdown(report: dict[str, Any]) -> str:
    mode = "quick" if report["quick"] else "full"
    lines = [
        "# Benchmark results",
        "",
        f"Latest {mode} run, {report['finished']} ({report['seconds']:.0f} s), made with "
        "`uv run python -m bench`. Ours = consentcam.faces (scan_image + Matcher); baseline = "
        'face_recognition at full resolution, upsample 1, default (68-point, "large") model. '
        f"Ratios are ours/baseline from the same run. Ours scans with DETECT_SIDE "
        f"{report.get('detect_side') or DEFAULTS['DETECT_SIDE']} (the app's setting).",
        *(
            [
                "Assembled from separate runs (each case's rows come from the last run of it): "
                + "; ".join(
                    f"{', '.join(p['cases'])} at {p['finished']} (load {p['load']})"
                    for p in report["parts"]
                )
                + ".",
            ]
            if len(report.get("parts", [])) > 1
            else []
        ),
        "",
        *[f"- {line}" for line in machine.header_lines(report["machine"])],
        "",
        markdown_table(report["rows"]),
        "",
    ]
    return "\n".join(lines)


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One report from several: each case's rows from the last report that ran that case."""
    by_case: dict[str, tuple[int, list[dict[str, Any]]]] = {}
    order: list[str] = []
    for n, report in enumerate(reports):
        for name in report["cases"]:
            if name not in order:
                order.append(name)
            rows = [r for r in report["rows"] if _row_case(r, name)]
            by_case[name] = (n, rows)
    merged = dict(reports[0])
    merged["rows"] = [row for name in order for row in by_case[name][1]]
    merged["cases"] = order
    merged["seconds"] = sum(r["seconds"] for r in reports)
    merged["finished"] = max(r["finished"] for r in reports)
    merged["errors"] = {
        name: reports[n]["errors"][name]
        for name, (n, _) in by_case.items()
        if name in reports[n].get("errors", {})
    }
    merged["parts"] = [
        {
            "finished": r["finished"],
            "cases": r["cases"],
            "load": r["machine"]["load_average_at_start"],
        }
        for r in reports
    ]
    return merged


def _row_case(row: dict[str, Any], name: str) -> bool:
    """Rows carry the case's number in their label; map them back to the case name."""
    load_cases()
    title = CASES[name].title
    number = title.split(" ", 1)[0]  # "1.", "1b.", "2." ...
    return str(row["case"]).startswith(number + " ") or str(row["case"]).startswith(name + ":")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small inputs and few repeats (minutes, not tens of minutes)",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this case (repeatable); see --list",
    )
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS / "latest.json",
        help="where to write the JSON results",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        default=None,
        help="also write the table as Markdown here (a full run of every case writes bench/RESULTS.md)",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="write bench/RESULTS.md from saved reports instead of running; a case's rows come "
        "from the last report that ran it (e.g. a case re-run on its own after a failure)",
    )
    parser.add_argument(
        "--detect-side",
        type=int,
        default=None,
        help="scan with this DETECT_SIDE instead of the app's default (cases 1-3)",
    )
    return parser.parse_args(argv)


def run(names: list[str], quick: bool, log: Any = None) -> dict[str, Any]:
    """Run the named cases; returns the report (machine, rows, timings)."""
    log = log or (lambda message: print(f"[bench] {message}", file=sys.stderr, flush=True))
    info = machine.describe()
    ctx = Context(quick=quick, log=log)
    started = time.perf_counter()
    rows: list[Row] = []
    errors: dict[str, str] = {}
    for name in names:
        log(f"case {name}: {CASES[name].title}")
        try:
            rows.extend(CASES[name].run(ctx))
        except Exception as exc:  # one broken case must not lose the others' results
            errors[name] = f"{type(exc).__name__}: {exc}"
            rows.append(Row(f"{name}: FAILED", str(exc)[:80], "-", "-", "-", False))
    return {
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "cases": names,
        "seconds": time.perf_counter() - started,
        "machine": info,
        "rows": [r.as_dict() for r in rows],
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_cases()
    if args.list:
        for case in CASES.values():
            print(f"{case.name:10} {case.title}")
        return 0
    if args.merge:
        report = merge_reports([json.loads(p.read_text()) for p in args.merge])
        (args.markdown or HERE / "RESULTS.md").write_text(results_markdown(report))
        print(text_table(report["rows"]))
        return 0
    names = args.only or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    if args.detect_side:
        os.environ["BENCH_DETECT_SIDE"] = str(args.detect_side)  # read by bench.child
    report = run(names, args.quick)
    report["detect_side"] = args.detect_side or DEFAULTS["DETECT_SIDE"]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print("\n".join(machine.header_lines(report["machine"])))
    print()
    print(text_table(report["rows"]))
    markdown = args.markdown
    if markdown is None and not args.quick and not args.only and not args.detect_side:
        markdown = HERE / "RESULTS.md"
    if markdown is not None:
        markdown.write_text(results_markdown(report))
    return 1 if report["errors"] else 0

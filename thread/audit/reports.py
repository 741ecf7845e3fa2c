"""Audit reports for machines and people: JSON, JUnit XML, one self-contained HTML page.

The JSON document (`thread audit --json`, `AuditReport.to_dict()`):

    {
      "run": "audit:20250630T120000Z-a1b2c3",   # the AuditRun node (null when not recorded)
      "run_id": "20250630T120000Z-a1b2c3",
      "status": "passed" | "failed" | "error",
      "exit_code": 0 | 1 | 2,
      "started": "…Z", "finished": "…Z",
      "as_of": "2025-06-30",                     # the audit date
      "twin": null | "twin:P-100/SN-0042",       # the audited twin, if any
      "units": null | 2,                         # how many units that twin covers
      "fail_on": "error" | "warning",
      "baseline": null | "path/to/baseline.json",
      "counts": {"pass": 20, "vacuous": 4, "warn": 0, "fail": 3, "error": 0, "skipped": 0},
      "violations": 37, "new_violations": 37,
      "failing": ["as-built-configuration", …],  # rules that fail the audit
      "rules": [{
        "rule": "as-built-configuration", "severity": "error", "description": "…",
        "source": "built-in" | "<rule file>",
        "outcome": "pass" | "vacuous" | "warn" | "fail" | "error" | "skipped",
        "level": null | "error" | "warning" | "info",   # what a warn/fail counts as
        "targets": 72 | null,                    # what the rule examined (null: unknown)
        "violations": 1, "new": 1, "known": 0,
        "seconds": 0.021, "params": {…}, "note": null | "checked nothing: …",
        "rows": [{"uid": "…", "message": "…", "known": false, …facts}],
        "rows_truncated": false                  # rows beyond --limit left out
      }, …]
    }
"""

from __future__ import annotations

import html
import json
import re
from typing import Any
from xml.etree import ElementTree

from thread.audit.runner import AuditReport, RuleResult

__all__ = ["to_html", "to_json", "to_junit"]

_UID = re.compile(r"\b[a-z]+:[^\s,;()'\"<>]+")


def to_json(report: AuditReport, row_limit: int | None = None) -> str:
    """The documented JSON shape (rows per rule up to `row_limit`, all when None)."""
    return json.dumps(report.to_dict(row_limit), indent=2, ensure_ascii=False, default=str)


def _line(row: dict[str, Any]) -> str:
    message = str(row["message"])
    text = message if str(row["uid"]) in message else f"{row['uid']}: {message}"
    return text + (" [known]" if row.get("known") else "")


def to_junit(report: AuditReport, row_limit: int = 1000) -> str:
    """JUnit XML: one testcase per rule; a failure lists its violations (up to
    `row_limit`, with the total), a vacuous or skipped rule is a skipped testcase, a rule
    that could not run an error. Rows of rules under the --fail-on level go to
    system-out, so CI shows them without failing."""
    failing = {r.rule for r in report.failing}
    suite = ElementTree.Element(
        "testsuite",
        name="thread audit",
        tests=str(len(report.results)),
        failures=str(len(failing)),
        errors=str(len(report.errors)),
        skipped=str(sum(1 for r in report.results if r.outcome in ("vacuous", "skipped"))),
        time=f"{sum(r.seconds for r in report.results):.3f}",
        timestamp=report.started,
    )
    properties = ElementTree.SubElement(suite, "properties")
    for name, value in (("as_of", report.as_of), ("twin", report.twin), ("run", report.run)):
        if value:
            ElementTree.SubElement(properties, "property", name=name, value=str(value))
    for result in report.results:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=f"thread.audit.{result.severity}",
            name=result.rule,
            time=f"{result.seconds:.3f}",
        )
        lines = [_line(row) for row in result.rows[:row_limit]]
        if len(result.rows) > row_limit:
            lines.append(f"… {len(result.rows) - row_limit} more of {len(result.rows)}")
        if result.outcome == "error":
            ElementTree.SubElement(case, "error", message=result.note or "error").text = result.note
        elif result.rule in failing:
            failure = ElementTree.SubElement(
                case,
                "failure",
                type=result.level or result.severity,
                message=f"{result.new} new violation(s) of {result.rule}: {result.description}",
            )
            failure.text = "\n".join(lines)
        elif result.outcome in ("vacuous", "skipped"):
            ElementTree.SubElement(case, "skipped", message=result.note or result.outcome)
        elif lines:
            ElementTree.SubElement(case, "system-out").text = "\n".join(lines)
    ElementTree.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(
        suite, encoding="unicode"
    )


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.fail,.error{color:#b00020;font-weight:bold}.warn{color:#a15c00;font-weight:bold}
.pass{color:#176f2c}.vacuous,.skipped{color:#666;font-style:italic}code{font-size:90%}
a{color:#0b57d0}section{margin-top:2em}.known{color:#888}
"""


def _anchor(uid: str) -> str:
    return "uid-" + re.sub(r"[^A-Za-z0-9_-]", "_", uid)


def _linked(text: str, uids: set[str]) -> str:
    """Escape `text`, linking the uids that have an entry in the page's index."""
    out, last = [], 0
    for match in _UID.finditer(text):
        uid = match.group(0).rstrip(".:")
        if uid not in uids:
            continue
        out.append(html.escape(text[last : match.start()]))
        out.append(f'<a href="#{_anchor(uid)}">{html.escape(uid)}</a>')
        last = match.start() + len(uid)
    out.append(html.escape(text[last:]))
    return "".join(out)


def _cell_text(value: Any) -> str:
    """A fact as people read it: a list as its items joined, a mapping as name=value pairs,
    never a Python repr."""
    if value is None:
        return ""
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_cell_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell_text(v)}" for k, v in value.items())
    return str(value)


def _rows_table(result: RuleResult, uids: set[str], row_limit: int) -> str:
    columns: list[str] = []
    for row in result.rows[:row_limit]:
        columns.extend(k for k in row if k not in columns and k != "known")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in result.rows[:row_limit]:
        cells = "".join(f"<td>{_linked(_cell_text(row.get(c)), uids)}</td>" for c in columns)
        css = ' class="known"' if row.get("known") else ""
        body.append(f"<tr{css}>{cells}</tr>")
    more = ""
    if len(result.rows) > row_limit:
        more = f"<p>… {len(result.rows) - row_limit} more of {len(result.rows)} rows.</p>"
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def to_html(report: AuditReport, row_limit: int = 500) -> str:
    """One self-contained page: the summary, then each rule with violations and its rows,
    then an index of the uids they name, each linking back to the rules that name it."""
    shown = [r for r in report.results if r.rows or r.outcome == "error"]
    mentions: dict[str, list[str]] = {}
    for result in shown:
        for row in result.rows[:row_limit]:
            for value in (row.get("uid"), *(_UID.findall(str(row.get("message", ""))))):
                if value:
                    uid = str(value).rstrip(".:")
                    rules = mentions.setdefault(uid, [])
                    if result.rule not in rules:
                        rules.append(result.rule)
    uids = set(mentions)
    summary = []
    for result in report.results:
        rule = html.escape(result.rule)
        name = f'<a href="#rule-{rule}">{rule}</a>' if result in shown else rule
        targets = "—" if result.targets is None else str(result.targets)
        note = html.escape(result.note or "")
        summary.append(
            f"<tr><td>{name}</td><td>{html.escape(result.severity)}</td>"
            f'<td class="{html.escape(result.outcome)}">{html.escape(result.outcome)}</td><td>{targets}</td>'
            f"<td>{result.violations}</td><td>{result.new}</td><td>{result.seconds:.3f}</td>"
            f"<td>{note}</td></tr>"
        )
    sections = []
    for result in shown:
        rule = html.escape(result.rule)
        detail = (
            f"<p class='error'>{html.escape(result.note or '')}</p>"
            if result.outcome == "error"
            else _rows_table(result, uids, row_limit)
        )
        sections.append(
            f'<section id="rule-{rule}"><h2>{rule} <small class="{html.escape(result.outcome)}">'
            f"{html.escape(result.outcome)}</small></h2><p>{html.escape(result.description)} "
            f"({html.escape(result.severity)}, {html.escape(result.source)})</p>{detail}</section>"
        )
    index = "".join(
        f'<li id="{_anchor(uid)}"><code>{html.escape(uid)}</code>: '
        + ", ".join(f'<a href="#rule-{html.escape(r)}">{html.escape(r)}</a>' for r in rules)
        + "</li>"
        for uid, rules in sorted(mentions.items())
    )
    title = f"Thread audit {html.escape(report.run_id)}: {html.escape(report.status)}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>"
        f"<p>As of {html.escape(report.as_of)}"
        + (f", twin {html.escape(report.twin)}" if report.twin else "")
        + f"; fails on {html.escape(report.fail_on)}; {len(report.failing)} rule(s) failing, "
        f"{sum(r.new for r in report.results)} new violation(s).</p>"
        "<table><tr><th>rule</th><th>severity</th><th>outcome</th><th>targets</th>"
        "<th>violations</th><th>new</th><th>seconds</th><th>note</th></tr>"
        + "".join(summary)
        + "</table>"
        + "".join(sections)
        + (f"<section><h2>Entities</h2><ul>{index}</ul></section>" if index else "")
        + "</body></html>\n"
    )

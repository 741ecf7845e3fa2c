"""Baselines: the violations a team already knows about, so CI fails only on new ones.

A baseline is a JSON file meant to be committed next to the rules:

    {"thread_audit_baseline": 1, "created": "2025-06-30T12:00:00Z",
     "violations": [{"rule": "as-built-configuration", "uid": "unit:P-100/SN-0030",
                     "message": "unit:P-100/SN-0030: substituted at find number 50: …"}]}

A violation is known when the baseline holds the same rule, uid and message; messages of
the built-in rules avoid values that change from run to run for that reason. Fixed
violations simply stop matching; write a new baseline to drop them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thread.audit.model import AuditUsageError

__all__ = ["Baseline", "read_baseline", "write_baseline"]

_FORMAT = "thread_audit_baseline"


@dataclass(frozen=True)
class Baseline:
    """Known violations as (rule, uid, message) triples."""

    known: frozenset[tuple[str, str, str]]
    path: str = ""

    def contains(self, rule: str, row: Mapping[str, Any]) -> bool:
        return (rule, str(row.get("uid")), str(row.get("message"))) in self.known


def read_baseline(path: Path) -> Baseline:
    """Read a baseline file.

    Raises:
        AuditUsageError: the file is missing or is not a Thread audit baseline.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuditUsageError(
            f"{path}: baseline not found (write one with --write-baseline)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AuditUsageError(f"{path}: not a JSON baseline: {exc}") from None
    if not isinstance(data, dict) or data.get(_FORMAT) != 1:
        raise AuditUsageError(f"{path}: not a Thread audit baseline (no {_FORMAT}: 1)")
    known = set()
    for item in data.get("violations", []):
        try:
            known.add((str(item["rule"]), str(item["uid"]), str(item["message"])))
        except (KeyError, TypeError):
            raise AuditUsageError(
                f"{path}: each violation needs rule, uid and message; found {item!r}"
            ) from None
    return Baseline(frozenset(known), str(path))


def write_baseline(path: Path, created: str, violations: Iterable[tuple[str, str, str]]) -> int:
    """Write the violations as a baseline (sorted, one per line); returns how many."""
    rows = sorted(set(violations))
    lines = ",\n".join(
        "    " + json.dumps({"rule": r, "uid": u, "message": m}, ensure_ascii=False)
        for r, u, m in rows
    )
    body = (
        f'{{\n  "{_FORMAT}": 1,\n  "created": "{created}",\n  "violations": [\n{lines}\n  ]\n}}\n'
    )
    path.write_text(body, encoding="utf-8")
    return len(rows)

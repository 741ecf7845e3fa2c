"""Thread's one clock and its one timestamp form: UTC, ISO 8601 to the second, with a `Z`.

Every timestamp Thread stores (import runs, simulation runs, alerts, samples' instants)
is written by this module, so that they sort and compare as text."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from thread.errors import UsageError

__all__ = [
    "TIMESTAMP",
    "from_epoch",
    "parse_day",
    "parse_moment",
    "utc_now",
    "utc_text",
    "utc_today",
]

TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"
"""The one timestamp form Thread stores (UTC, seconds)."""


def utc_text(moment: datetime) -> str:
    """An aware datetime in Thread's form (naive ones are taken as UTC already)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(TIMESTAMP)


def utc_now() -> str:
    """Now, in Thread's form."""
    return utc_text(datetime.now(UTC))


def utc_today() -> str:
    """Today's date in UTC, YYYY-MM-DD (the form dates take in the graph)."""
    return datetime.now(UTC).date().isoformat()


def from_epoch(seconds: float) -> str:
    """Seconds since the Unix epoch, in Thread's form."""
    return utc_text(datetime.fromtimestamp(seconds, UTC))


DAY_FORMS = "a date YYYY-MM-DD"
MOMENT_FORMS = "a date YYYY-MM-DD or a UTC time YYYY-MM-DDTHH:MM:SS[Z]"

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MOMENT = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})Z?")


def parse_day(text: str, what: str) -> str:
    """A date the user gave, checked: `what` names it in the error (e.g. "--as-of").

    Dates are compared as text in the graph, so "2024-13-01" or "yesterday" would give a
    confident wrong answer instead of an error.

    Raises:
        UsageError: not a real date in the form YYYY-MM-DD.
    """
    if _DAY.fullmatch(text):
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    raise UsageError(f"{what}: {text!r} is not {DAY_FORMS}")


def parse_moment(text: str, what: str) -> str:
    """A date or UTC time the user gave, checked, in the form it is compared in: a date
    stays YYYY-MM-DD, a time becomes Thread's timestamp (a time without `Z` is UTC).

    Raises:
        UsageError: neither a real date YYYY-MM-DD nor a UTC time YYYY-MM-DDTHH:MM:SS[Z].
    """
    moment = _MOMENT.fullmatch(text)
    try:
        if _DAY.fullmatch(text):
            return date.fromisoformat(text).isoformat()
        if moment:
            return utc_text(datetime.strptime(moment.group(1), TIMESTAMP[:-1]))
    except ValueError:
        pass
    raise UsageError(f"{what}: {text!r} is not {MOMENT_FORMS}")

"""Thread's one clock and its one timestamp form: UTC, ISO 8601 to the second, with a `Z`.

Every timestamp Thread stores (import runs, simulation runs, alerts, samples' instants)
is written by this module, so that they sort and compare as text."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["TIMESTAMP", "from_epoch", "utc_now", "utc_text", "utc_today"]

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

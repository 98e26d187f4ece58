"""Release dates: what a catalogue or a file's tags say, checked, and the moment a song counts
as released.

A release date is a day (``2024-05-17``), a month (``2024-05``) or a year (``2024``): tags and
catalogues often know no more. Each names a period of UTC time. :func:`released_at` turns one
into the moment songlens treats as the song's release (new-song windows and the
``released_after``/``released_before`` filters read it):

* no release date: the first ingestion (what songlens saw arrive is all it knows);
* ingested within the period (a new single ingested on its release day, a song dated "2024"
  ingested in 2024): the ingestion itself (the period cannot say better);
* ingested after the period (back catalogue): the period's end, so a song from 1998 ingested
  today is not new;
* ingested before the period (a pre-release): the period's start, so the song becomes new on
  release, not on ingestion.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime

__all__ = ["MIN_YEAR", "MAX_YEARS_AHEAD", "parse_release_date", "release_period", "released_at"]

MIN_YEAR = 1000
#: how far in the future a release may be announced (pre-releases are ingested ahead of time)
MAX_YEARS_AHEAD = 2

# A date as ISO 8601 writes it (``2024``, ``2024-05``, ``2024-05-17``), optionally followed by a
# time (ID3 TDRC ``2024-05-17T12:00``, Vorbis ``2024-05-17 12:00:00``), which is dropped.
_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})(?:[T ][0-9:.+\-Z ]*)?)?)?$")


def parse_release_date(value: str, *, today: date | None = None) -> str:
    """``value`` checked and written as ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``.

    Raises
    ------
    ValueError
        Not one of those forms, not a calendar date, before year 1000 or more than
        ``MAX_YEARS_AHEAD`` years ahead; the message echoes the value.
    """
    text = str(value).strip()
    shown = repr(text if len(text) <= 40 else text[:40] + "…")
    m = _DATE.match(text)
    if not m:
        raise ValueError(f"release_date {shown} is not a date: give YYYY-MM-DD, YYYY-MM or YYYY")
    year, month, day = (int(g) if g else None for g in m.groups())
    try:
        date(year, month or 1, day or 1)
    except ValueError as exc:
        raise ValueError(f"release_date {shown} is not a calendar date ({exc})") from None
    top = (today or datetime.now(UTC).date()).year + MAX_YEARS_AHEAD
    if not MIN_YEAR <= year <= top:
        raise ValueError(f"release_date {shown}: the year must be between {MIN_YEAR} and {top}")
    if day is not None:
        return f"{year:04d}-{month:02d}-{day:02d}"
    return f"{year:04d}-{month:02d}" if month is not None else f"{year:04d}"


def release_period(release_date: str) -> tuple[float, float]:
    """``(start, end)`` in unix seconds of a checked release date's UTC period (end exclusive)."""
    parts = [int(p) for p in release_date.split("-")]
    year, month, day = (parts + [None, None])[:3]
    start = datetime(year, month or 1, day or 1, tzinfo=UTC)
    if day is not None:
        end_day = date.fromordinal(start.date().toordinal() + 1)
    elif month is not None:
        end_day = date(year + (month == 12), month % 12 + 1, 1)
    else:
        end_day = date(year + 1, 1, 1)
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=UTC)
    return float(calendar.timegm(start.timetuple())), float(calendar.timegm(end.timetuple()))


def released_at(release_date: str | None, ingested_at: float | None) -> float | None:
    """The moment a song counts as released (unix seconds): see the module's rules. None when
    neither is known."""
    if not release_date:
        return ingested_at
    start, end = release_period(release_date)
    if ingested_at is None:
        return start
    return min(max(float(ingested_at), start), end - 1.0)

"""Age and period rules at their edges: partial dates never grant on a guess."""

from __future__ import annotations

from datetime import UTC, datetime

from fhirip.consent.timing import is_minor, period_covers

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_partial_birth_date_counts_from_its_earliest_day() -> None:
    assert is_minor("2010-06-02", NOW)  # turns 16 tomorrow
    assert not is_minor("2010-06-01", NOW)  # 16 today
    assert not is_minor("2010", NOW)  # may have been born in January 2010: may be 16
    assert is_minor("2010-07", NOW)  # born July 2010 at the earliest: 15
    assert is_minor("2012-02-29", NOW)


def test_unknown_or_malformed_birth_date_is_not_a_minor() -> None:
    assert not is_minor(None, NOW)
    assert not is_minor("juni 2012", NOW)


def test_period_bounds_cover_their_whole_partial_date() -> None:
    assert period_covers({"start": "2026-06"}, NOW)
    assert period_covers({"end": "2026-06"}, NOW)
    assert not period_covers({"end": "2026-05"}, NOW)
    assert not period_covers({"start": "2026-06-02"}, NOW)
    assert period_covers(None, NOW)
    assert not period_covers({"start": "not a date"}, NOW)

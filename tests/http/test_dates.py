"""`expires_at` takes what the live validator took (Joi's `date()`, as a JavaScript `Date`
reads it) and is always answered in the canonical `...T...Z` form with milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from meetings_emulator.http.schemas import parse_date

from ..conftest import START

V1 = "/v1/meetings"
# Whole milliseconds, as a `Date` holds them, within the years both Date and datetime know.
instants = st.datetimes(
    min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - hypothesis takes naive bounds
    max_value=datetime(9998, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda at: at.replace(microsecond=at.microsecond // 1000 * 1000))


@given(instants)
def test_every_form_of_one_instant_reads_alike(at: datetime) -> None:
    milliseconds = round((at - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1000)
    naive = at.replace(tzinfo=None)
    forms = [
        at.isoformat(),
        at.isoformat().replace("+00:00", "Z"),
        naive.isoformat(sep=" "),  # the .NET SDK's `yyyy-MM-dd HH:mm:ss`, no zone: UTC
        naive.isoformat(),
        at.astimezone(UTC).isoformat(timespec="milliseconds"),
        milliseconds,
        str(milliseconds),
    ]
    assert {parse_date(form) for form in forms} == {at}


@given(instants, st.integers(-14 * 60, 14 * 60))
def test_an_offset_is_honoured(at: datetime, minutes: int) -> None:
    shown = at.astimezone(timezone(timedelta(minutes=minutes)))
    assert parse_date(shown.isoformat()) == at


def test_a_date_alone_is_midnight_utc() -> None:
    assert parse_date("2026-05-01") == datetime(2026, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    ["next tuesday", "", "2026-13-01", "2026-W18-1", "01/05/2026", True, None, [], {}, 1e300],
)
def test_what_is_no_date_is_refused(value: object) -> None:
    assert parse_date(value) is None


@pytest.mark.parametrize(
    ("sent", "answered"),
    [
        ("2026-05-01 10:00:00", "2026-05-01T10:00:00.000Z"),  # as the .NET SDK sends it
        ("2026-05-01T12:00:00+02:00", "2026-05-01T10:00:00.000Z"),
        ("2026-05-01", "2026-05-01T00:00:00.000Z"),
        (1777629600123, "2026-05-01T10:00:00.123Z"),
        ("1777629600123", "2026-05-01T10:00:00.123Z"),
    ],
)
def test_a_long_term_room_takes_each_form_and_answers_the_canonical_one(
    client: TestClient, sent: object, answered: str
) -> None:
    assert datetime(2026, 5, 1, tzinfo=UTC) > START
    body = {"display_name": "dotnet", "type": "long_term", "expires_at": sent}
    created = client.post(f"{V1}/rooms", json=body)
    assert created.status_code == 201, created.json()
    assert created.json()["expires_at"] == answered
    update = {"update_details": {"expires_at": sent}}
    updated = client.patch(f"{V1}/rooms/{created.json()['id']}", json=update)
    assert (updated.status_code, updated.json()["expires_at"]) == (200, answered)

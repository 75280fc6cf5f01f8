import datetime as dt

import pytest

from shipshape.domain.birthday import days_until_birthday, greeting, next_birthday

D = dt.date


@pytest.mark.parametrize(
    ("dob", "today", "days"),
    [
        (D(1990, 6, 15), D(2024, 6, 15), 0),  # today
        (D(1990, 6, 16), D(2024, 6, 15), 1),  # tomorrow
        (D(1990, 6, 14), D(2024, 6, 15), 364),  # yesterday, next year (2025 common)
        (D(1990, 6, 14), D(2023, 6, 15), 365),  # yesterday, next year is leap (2024)
        (D(1990, 1, 1), D(2024, 12, 31), 1),  # across the year end
        (D(1990, 12, 31), D(2025, 1, 1), 364),  # just missed at year start
        (D(2000, 2, 29), D(2024, 2, 29), 0),  # leap-day birthday on a leap year
        (D(2000, 2, 29), D(2023, 2, 28), 0),  # celebrated 28 Feb in common years
        (D(2000, 2, 29), D(2023, 3, 1), 365),  # next is 29 Feb 2024
        (D(2000, 2, 29), D(2024, 2, 28), 1),
        (D(2000, 3, 1), D(2024, 2, 28), 2),  # leap year: 29 Feb in between
        (D(2000, 3, 1), D(2023, 2, 28), 1),
        (D(2024, 6, 15), D(2024, 6, 15), 0),  # born today
    ],
)
def test_days_until_birthday(dob, today, days):
    assert days_until_birthday(dob, today) == days
    assert next_birthday(dob, today) >= today


def test_greeting_messages():
    assert greeting("alice", D(1990, 6, 15), D(2024, 6, 15)) == "Hello, alice! Happy birthday!"


@pytest.mark.parametrize("days", [1, 2, 5, 364, 365])
def test_greeting_says_day_s_literally_for_every_count(days):
    """Existing clients compare the message exactly: `day(s)` for every N, 1 included."""
    today = D(2023, 6, 15)
    dob = (today + dt.timedelta(days=days)).replace(year=1990)
    assert greeting("bob", dob, today) == f"Hello, bob! Your birthday is in {days} day(s)"

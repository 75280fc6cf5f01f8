import pytest

from shipshape.core.database_url import UnsupportedDatabaseURL, redact_url, to_async_url
from shipshape.domain.pagination import InvalidCursor, decode_cursor, encode_cursor


def test_cursor_round_trip():
    assert decode_cursor(encode_cursor(42), (int,)) == (42,)
    assert decode_cursor(encode_cursor("2024-01-01T00:00:00", "1.2.3.4"), (str, str)) == (
        "2024-01-01T00:00:00",
        "1.2.3.4",
    )


@pytest.mark.parametrize(
    "bad",
    ["", "!!", "W10", encode_cursor("x"), encode_cursor(1, 2), "a" * 600, encode_cursor(True)],
)
def test_cursor_rejects_garbage(bad):
    with pytest.raises(InvalidCursor):
        decode_cursor(bad, (int,))


@pytest.mark.parametrize(
    ("plain", "driver"),
    [
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
        ("postgresql://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgres://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
        ("mysql://u:p@h/d", "mysql+asyncmy://u:p@h/d"),
        ("mariadb://u:p@h/d", "mysql+asyncmy://u:p@h/d"),
        ("postgresql://u:p@h/d?sslmode=require", "postgresql+asyncpg://u:p@h/d?ssl=require"),
    ],
)
def test_plain_urls_get_async_drivers(plain, driver):
    assert to_async_url(plain) == driver


def test_password_override_and_redaction():
    assert (
        to_async_url("postgresql://u:old@h/d", password="n3w") == "postgresql+asyncpg://u:n3w@h/d"
    )
    assert "s3cret" not in redact_url("postgresql://u:s3cret@h/d")
    with pytest.raises(UnsupportedDatabaseURL):
        to_async_url("oracle://u:p@h/d")
    with pytest.raises(UnsupportedDatabaseURL):
        to_async_url("not a url")

import pytest

from shipshape.core.config import ConfigError, Settings, load_settings


def test_defaults():
    settings = Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.chaos_enabled is False
    assert [str(n) for n in settings.trusted_proxies] == ["127.0.0.1/32", "::1/128"]


def test_env_and_file_secrets(monkeypatch, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("a-very-long-admin-token\n")
    monkeypatch.setenv("SHIPSHAPE_ADMIN_TOKEN_FILE", str(secret))
    monkeypatch.setenv("SHIPSHAPE_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.0.0/16")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw@db/x")
    settings = load_settings()
    assert settings.admin_token.get_secret_value() == "a-very-long-admin-token"
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.168.0.0/16"]
    assert settings.effective_database_url == "postgresql+asyncpg://u:pw@db/x"
    redacted = settings.redacted()
    assert redacted["admin_token"] == "********"
    assert "pw" not in redacted["database_url"]


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SHIPSHAPE_PORT", "eighty", "SHIPSHAPE_PORT"),
        ("SHIPSHAPE_PORT", "70000", "SHIPSHAPE_PORT"),
        ("SHIPSHAPE_TRUSTED_PROXIES", "10.0.0.0/33", "SHIPSHAPE_TRUSTED_PROXIES"),
        ("DATABASE_URL", "oracle://x", "DATABASE_URL"),
        ("SHIPSHAPE_LOG_FORMAT", "xml", "SHIPSHAPE_LOG_FORMAT"),
        ("SHIPSHAPE_ADMIN_TOKEN", "short", "SHIPSHAPE_ADMIN_TOKEN"),
    ],
)
def test_invalid_settings_name_the_variable_and_hide_the_value(monkeypatch, variable, value, named):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as excinfo:
        load_settings()
    message = str(excinfo.value)
    assert named in message
    if len(value) > 4:
        assert value not in message


def test_unreadable_secret_file(monkeypatch):
    monkeypatch.setenv("SHIPSHAPE_ADMIN_TOKEN_FILE", "/nonexistent/token")
    with pytest.raises(ConfigError, match="SHIPSHAPE_ADMIN_TOKEN_FILE"):
        load_settings()

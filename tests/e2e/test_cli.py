"""The `shipshape` command as users and scripts call it."""

from __future__ import annotations

import json

import pytest

from tests.support.process import ServerProcess, cli

COMMANDS = ["serve", "migrate", "prune", "check-config", "version", "healthcheck", "check-writes"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = cli(command, "--help", env={})
    assert result.returncode == 0
    assert "usage: shipshape" in result.stdout


def test_top_level_help_lists_commands():
    out = cli("--help", env={}).stdout
    for command in COMMANDS:
        assert command in out


def test_check_config_ok_and_redacted():
    result = cli(
        "check-config",
        env={"SHIPSHAPE_ADMIN_TOKEN": "x" * 20, "DATABASE_URL": "postgresql://u:hunter2pass@db/x"},
    )
    config = json.loads(result.stdout)
    assert config["admin_token"] == "********"
    assert "hunter2pass" not in result.stdout


def test_check_config_error_is_one_clear_line():
    result = cli("check-config", env={"SHIPSHAPE_PORT": "http"}, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "SHIPSHAPE_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_bad_config_before_binding():
    result = cli("serve", env={"SHIPSHAPE_TRUSTED_PROXIES": "not-a-cidr"}, check=False)
    assert result.returncode == 2
    assert "SHIPSHAPE_TRUSTED_PROXIES" in result.stderr


def test_version_is_json():
    info = json.loads(cli("version", env={"SHIPSHAPE_GIT_COMMIT": "abc123"}).stdout)
    assert info["commit"] == "abc123"
    assert info["version"]


def test_migrate_serve_prune_healthcheck_on_sqlite(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "SHIPSHAPE_DRAIN_SECONDS": "0"}
    cli("migrate", env=env)
    with ServerProcess(env) as server:
        assert cli("healthcheck", "--url", f"{server.base_url}/livez", env=env).returncode == 0
        assert cli("healthcheck", env={**env, "SHIPSHAPE_PORT": str(server.port)}).returncode == 0
    assert (
        cli("healthcheck", "--url", f"{server.base_url}/livez", env=env, check=False).returncode
        == 1
    )
    pruned = json.loads(cli("prune", "--dry-run", env=env).stdout.strip().splitlines()[-1])
    assert pruned["visits_to_delete"] == 0

"""With a database password and an admin token set, neither appears anywhere we can look:
logs, /config, /metrics, error responses, check-config and migrate output."""

from __future__ import annotations

import uuid

import httpx

from tests.support.process import ServerProcess, cli


def test_secrets_never_leak(servers, tmp_path):
    pg = servers.get("postgresql")
    db_password = f"Pw{uuid.uuid4().hex}"
    admin_token = f"Tok{uuid.uuid4().hex}"
    role = f"leak_{uuid.uuid4().hex[:8]}"
    pg.admin(f"CREATE ROLE {role} LOGIN PASSWORD '{db_password}'")
    pg.admin(f"CREATE DATABASE {role} OWNER {role}")
    url = f"postgresql://{role}:{db_password}@{pg.host}:{pg.port}/{role}"
    token_file = tmp_path / "token"
    token_file.write_text(admin_token)
    env = {
        "DATABASE_URL": url,
        "SHIPSHAPE_ADMIN_TOKEN_FILE": str(token_file),
        "SHIPSHAPE_LOG_FORMAT": "json",
        "SHIPSHAPE_LOG_LEVEL": "debug",
        "SHIPSHAPE_CHAOS_ENABLED": "true",
    }
    collected: list[str] = []
    for args in (("migrate",), ("check-config",), ("version",)):
        result = cli(*args, env=env)
        collected += [result.stdout, result.stderr]
    # A failing start-up (bad setting next to the secrets) must not echo them either.
    bad = cli("check-config", env={**env, "SHIPSHAPE_PORT": db_password}, check=False)
    assert bad.returncode == 2
    collected += [bad.stdout, bad.stderr]
    wrong_db = cli(
        "migrate", env={**env, "DATABASE_URL": url.replace(f"{pg.port}", "1")}, check=False
    )
    assert wrong_db.returncode != 0
    collected += [wrong_db.stdout, wrong_db.stderr]

    with ServerProcess(env) as server:
        base = server.base_url
        auth = {"authorization": f"Bearer {admin_token}"}
        requests = [
            ("GET", "/", {}, None),
            ("GET", "/config", {}, None),
            ("GET", "/version", {}, None),
            ("GET", "/stats", {}, None),
            ("GET", "/readyz", {}, None),
            ("GET", f"/hello/{admin_token}", {}, None),
            ("PUT", "/hello/alice", {}, {"dateOfBirth": db_password}),
            ("POST", "/admin/readiness/disable", {"authorization": f"Bearer {db_password}"}, None),
            ("POST", "/admin/readiness/disable", auth, None),
            ("POST", "/admin/readiness/enable", auth, None),
            ("PUT", "/admin/faults", auth, {"error_rate": 0.0}),
            ("GET", "/status/500", {}, None),
            ("GET", "/metrics", {}, None),
        ]
        for method, path, headers, body in requests:
            response = httpx.request(
                method, f"{base}{path}", headers=headers, json=body, timeout=10
            )
            assert response.status_code < 500 or path == "/status/500", (path, response.status_code)
            collected.append(response.text)
            collected.append(str(response.headers))
        config = httpx.get(f"{base}/config").json()
        assert config["admin_token"] == "********"
        assert ":***@" in config["database_url"]
        server.terminate()
        server.wait(timeout=30)
        collected.append(server.output())

    everything = "\n".join(collected)
    assert "shipshape.access" in everything  # the access log really was collected
    assert db_password not in everything
    assert admin_token not in everything

"""`dialbox token create` shows how to use the token: a curl line, https:// with --cacert when the
API serves TLS (issue #18); `dialbox token list` never shows a secret or its hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.cli import main


def _config(tmp_path: Path, tls: bool) -> Path:
    cert = tmp_path / "tls" / "cert.pem"
    text = f"database: {tmp_path}/dialbox.db\napi:\n  listen: 127.0.0.1\n  port: 8443\n"
    if tls:
        text += f"  tls:\n    cert: {cert}\n    key: {tmp_path}/tls/key.pem\n"
    path = tmp_path / "dialbox.yaml"
    path.write_text(text)
    return path


def test_create_prints_an_https_curl_line_when_tls_is_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, tls=True)
    assert main(["--config", str(config), "token", "create", "crm-acme"]) == 0
    out = capsys.readouterr().out
    secret = out.split()[0]
    assert secret.startswith("dbx_")
    assert (
        f"curl --cacert {tmp_path}/tls/cert.pem -H 'Authorization: Bearer {secret}' "
        "https://127.0.0.1:8443/campaigns"
    ) in out

    assert main(["--config", str(config), "token", "create", "desk", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["url"] == "https://127.0.0.1:8443"

    assert main(["--config", str(config), "token", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    assert "dbx_" not in listed and secret not in listed
    assert "hash" not in json.loads(listed)[0]
    first = json.loads(listed)[0]  # instants as the API writes them (#22)
    assert first["created_at"].endswith("Z") and first["last_used_at"] is None


def test_create_prints_a_plain_http_curl_line_without_tls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(_config(tmp_path, tls=False)), "token", "create", "x"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8443/campaigns" in out and "--cacert" not in out


def test_a_supervisor_token_and_a_desk_session_in_the_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.store import open_database
    from appliance.store.tokens import create_session

    config = _config(tmp_path, tls=False)
    assert main(["--config", str(config), "token", "create", "boss", "--scope", "supervisor",
                 "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["scope"] == "supervisor"
    with pytest.raises(SystemExit):  # argparse refuses a scope there is not
        main(["--config", str(config), "token", "create", "x", "--scope", "root"])
    capsys.readouterr()
    db = open_database(tmp_path / "dialbox.db")
    _, session = create_session(db, "anna", 1_000.0, "api:boss")  # expired long ago
    db.close()
    assert main(["--config", str(config), "token", "list"]) == 0
    out = capsys.readouterr().out
    assert "boss" in out and "supervisor" in out
    assert f"{session.name}" in out and "expired 1970-01-01T12:16:40.000Z" in out
    assert main(["--config", str(config), "token", "list", "--json"]) == 0
    listed = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert listed[session.name]["agent"] == "anna"
    assert listed[session.name]["expires_at"] == "1970-01-01T12:16:40.000Z"
    assert listed["boss"]["expires_at"] is None

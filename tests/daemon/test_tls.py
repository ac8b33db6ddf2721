"""HTTPS (issue #18): with api.tls.cert/key the real daemon serves TLS ≥ 1.2 with that
certificate — curl and Python's ssl client verify it against the certificate itself — and
plain HTTP to that port gets no answer. A renewed certificate is taken on SIGHUP."""

from __future__ import annotations

import http.client
import shutil
import signal
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.daemon.process import DaemonProcess

OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")


def self_signed(folder: Path, name: str = "cert") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (openssl: `cryptography` is not
    among the test dependencies)."""
    assert OPENSSL is not None
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _tls_daemon(tmp_path: Path, cert: Path, key: Path) -> DaemonProcess:
    return DaemonProcess(tmp_path, extra_config=f"  tls:\n    cert: {cert}\n    key: {key}\n")


def _get(port: int, cafile: Path, path: str = "/healthz") -> tuple[int, bytes, str | None]:
    context = ssl.create_default_context(cafile=str(cafile))
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        assert isinstance(conn.sock, ssl.SSLSocket)
        return resp.status, body, conn.sock.version()
    finally:
        conn.close()


def test_the_daemon_serves_https_with_the_configured_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    daemon = _tls_daemon(tmp_path, cert, key)
    try:
        daemon.start()
        daemon.expect("READY")

        status, body, version = _get(daemon.port, cert)
        assert status == 200 and b'"ok"' in body
        assert version in ("TLSv1.2", "TLSv1.3")

        if CURL is not None:
            out = subprocess.run(
                [CURL, "-sS", "--fail", "--cacert", str(cert),
                 f"https://127.0.0.1:{daemon.port}/healthz"],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert out.returncode == 0, out.stderr
            assert '"status": "ok"' in out.stdout or '"status":"ok"' in out.stdout

        # TLS 1.2 clients are served too; the server's floor is 1.2 (a TLS 1.1 client cannot
        # be tried here: this OpenSSL refuses to speak it at all).
        tls12 = ssl.create_default_context(cafile=str(cert))
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        with (
            socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as raw,
            tls12.wrap_socket(raw, server_hostname="127.0.0.1") as wrapped,
        ):
            assert wrapped.version() == "TLSv1.2"

        # Plain HTTP to the TLS port gets no HTTP answer.
        plain = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            plain.request("GET", "/healthz")
            plain.getresponse().read()
        plain.close()

        # A renewed certificate in the same files is served after SIGHUP (systemctl reload).
        old_cert = shutil.copyfile(cert, tmp_path / "old.pem")
        new_cert, new_key = self_signed(tmp_path, "renewed")
        shutil.copyfile(new_cert, cert)
        shutil.copyfile(new_key, key)
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)
        for _ in range(30):  # status lines come every second; the reload logs before its own
            if "config reloaded" in daemon.output():
                break
            daemon.expect("STATUS")
        assert "config reloaded" in daemon.output(), daemon.output()
        assert _get(daemon.port, new_cert)[0] == 200
        with pytest.raises(ssl.SSLError):
            _get(daemon.port, old_cert)  # the old certificate is no longer served
    finally:
        daemon.stop()


def test_a_missing_certificate_stops_the_start_with_a_clear_message(tmp_path: Path) -> None:
    daemon = _tls_daemon(tmp_path, tmp_path / "none.pem", tmp_path / "none.key")
    try:
        daemon.start()
        assert daemon.proc is not None
        assert daemon.proc.wait(60) != 0
        assert "api.tls" in daemon.output() and "none.pem" in daemon.output()
    finally:
        daemon.stop()


def test_the_server_context_refuses_anything_older_than_tls_1_2(tmp_path: Path) -> None:
    from appliance.api.server import tls_context
    from appliance.config.models import TlsSettings

    cert, key = self_signed(tmp_path)
    context = tls_context(TlsSettings(cert=cert, key=key))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2

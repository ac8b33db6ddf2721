"""The image recipe, checked without building it (`make image` is too slow for CI): its shell
scripts pass shellcheck, and the unit files it installs are exactly those in systemd/."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "image"


def scripts() -> list[Path]:
    """Every shell script of the recipe (image/build, the build's output, is not walked)."""
    found = []
    for folder, dirs, files in os.walk(IMAGE):
        if Path(folder) == IMAGE:
            dirs[:] = [d for d in dirs if d != "build"]
        for name in files:
            path = Path(folder) / name
            first = path.read_bytes().split(b"\n", 1)[0]
            if first.startswith(b"#!") and first.endswith((b"sh", b"bash")):
                found.append(path)
    return sorted(found)


def test_the_recipe_has_its_scripts() -> None:
    names = {p.name for p in scripts()}
    assert {
        "build.sh",
        "customize.sh",
        "dialbox-login",
        "dialbox-upgrade",
        "dialbox-rollback",
    } <= names


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck not installed (.ci/run installs it)"
)
def test_shell_scripts_pass_shellcheck() -> None:
    result = subprocess.run(
        ["shellcheck", "--severity=style", *map(str, scripts())], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_installs_every_file_of_systemd_once_and_nothing_else() -> None:
    pairs = [
        line.split()
        for line in (IMAGE / "units.list").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = [src for src, _ in pairs]
    assert sorted(sources) == sorted(p.name for p in (REPO / "systemd").iterdir() if p.is_file())
    assert len({dest for _, dest in pairs}) == len(pairs)
    for src, dest in pairs:
        assert dest.startswith("/") and Path(dest).name, (src, dest)
    # the hook installs them from systemd/ by that list, not from copies of its own
    hook = (IMAGE / "customize.sh").read_text()
    assert '"$repo/systemd/$src"' in hook and "units.list" in hook
    overlay = {p.name for p in (IMAGE / "rootfs").rglob("*") if p.is_file()}
    assert not overlay & set(sources), "a unit file is shadowed by a copy in image/rootfs"


def test_the_shipped_config_passes_check_config(tmp_path: Path) -> None:
    from appliance.cli import main

    text = (IMAGE / "rootfs/etc/dialbox/dialbox.yaml").read_text()
    config = tmp_path / "dialbox.yaml"
    config.write_text(text.replace("/var/lib/dialbox", str(tmp_path)))
    assert main(["check-config", str(config)]) == 0


def test_the_box_makes_its_own_tls_certificate_and_shows_its_fingerprint(tmp_path: Path) -> None:
    """The first-boot certificate script, run here into a folder: a self-signed certificate
    naming the host and its addresses, a private key only its owner reads, and the SHA-256
    fingerprint on the console login (an /etc/issue.d snippet). Run again, it keeps them."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    script = IMAGE / "rootfs/usr/local/sbin/dialbox-tls-cert"
    env = dict(
        os.environ,
        DIALBOX_TLS_DIR=str(tmp_path / "tls"),
        DIALBOX_ISSUE_DIR=str(tmp_path / "issue.d"),
        DIALBOX_TLS_OWNER="",
    )
    subprocess.run([str(script)], check=True, env=env, capture_output=True)
    cert, key = tmp_path / "tls/cert.pem", tmp_path / "tls/key.pem"
    assert (key.stat().st_mode & 0o077) == 0
    text = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-text", "-fingerprint", "-sha256"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    san = text.split("Subject Alternative Name:")[1].splitlines()[1]
    assert f"DNS:{socket.gethostname()}" in san and "IP Address:127.0.0.1" in san
    fingerprint = text.split("Fingerprint=")[1].split()[0]
    issue = (tmp_path / "issue.d/dialbox-tls.issue").read_text()
    assert fingerprint in issue and "SHA-256" in issue
    before = cert.read_bytes()
    subprocess.run([str(script)], check=True, env=env, capture_output=True)
    assert cert.read_bytes() == before


def test_the_image_serves_https_with_the_first_boot_certificate() -> None:
    config = (IMAGE / "rootfs/etc/dialbox/dialbox.yaml").read_text()
    assert "cert: /var/lib/dialbox/tls/cert.pem" in config
    assert "key: /var/lib/dialbox/tls/key.pem" in config
    unit = (IMAGE / "rootfs/etc/systemd/system/dialbox-tls.service").read_text()
    assert "Before=dialbox.service" in unit and "/usr/local/sbin/dialbox-tls-cert" in unit
    assert "dialbox-tls.service" in (IMAGE / "customize.sh").read_text()
    checks = (IMAGE / "test.py").read_text()
    assert "https://127.0.0.1:8080" in checks and "/var/lib/dialbox/tls/cert.pem" in checks

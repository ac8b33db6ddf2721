#!/usr/bin/env python3
"""make image-test: boot image/build/dialbox-amd64.img under qemu (TCG, UEFI) and check the box.

The image boots by itself (OVMF firmware -> GRUB on the EFI System Partition -> kernel on the
ext4 root); nothing is passed to the kernel. The test's SSH key reaches the box the way a real
one is provisioned: as systemd system credentials (ssh.authorized_keys.root and .tech) in SMBIOS
type 11 strings. The disk is a throw-away qcow2 overlay, so the built image stays pristine.

Checks, in order:
  1. the serial console shows the first-boot note and a login prompt;
  2. dialbox.service is active (running) — Type=notify, so systemd heard READY=1 — and its STATUS=;
  3. the unit files in the box are byte for byte those of systemd/ (image/units.list);
  4. /metrics answers over HTTPS on the API port with dialbox metrics, verified against the
     certificate the box made at first boot, whose SHA-256 fingerprint the console login shows;
  5. the technician's SSH login lands in `dialbox console` (`ssh tech@box -- --help` exits 0);
  6. an upgrade (the same wheel reinstalled, the service restarted) keeps the database.
The VM is powered off at the end (killed if it does not stop), all within --timeout seconds.
Figures: boot-to-READY (host wall clock from qemu start, and systemd's monotonic clock).
Standard library only; run as root on Debian 12 (qemu, OVMF and ssh are installed if missing).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
TOOLS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


def log(msg: str) -> None:
    print(f"[image-test {time.strftime('%T')}] {msg}", file=sys.stderr, flush=True)


class Failed(Exception):
    pass


def need_tools() -> None:
    want = {pkg for cmd, pkg in TOOLS.items() if shutil.which(cmd) is None}
    if not OVMF_CODE.exists():
        want.add("ovmf")
    if not want:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise Failed(f"missing Debian packages: {' '.join(sorted(want))}")
    log(f"installing: {' '.join(sorted(want))}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *sorted(want)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def units() -> list[tuple[str, str]]:
    """(source in systemd/, path in the image) for every unit file the recipe installs."""
    pairs = []
    for line in (HERE / "units.list").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            src, dest = line.split()
            pairs.append((src, dest))
    return pairs


class Box:
    """The VM: qemu running the image, reached by SSH on a forwarded loopback port."""

    def __init__(self, image: Path, work: Path, deadline: float, accel: str) -> None:
        self.work = work
        self.deadline = deadline
        self.port = free_port()
        self.key = work / "id_ed25519"
        self.serial = work / "serial.log"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)], check=True
        )
        pub = base64.b64encode((work / "id_ed25519.pub").read_bytes()).decode()
        overlay = work / "disk.qcow2"
        subprocess.run(
            [
                "qemu-img",
                "create",
                "-q",
                "-f",
                "qcow2",
                "-F",
                "raw",
                "-b",
                str(image),
                str(overlay),
            ],
            check=True,
        )
        vars_ = work / "OVMF_VARS.fd"
        shutil.copyfile(OVMF_VARS, vars_)
        cred = "type=11,value=io.systemd.credential.binary:{}=" + pub
        self.argv = [
            "qemu-system-x86_64",
            "-machine", "q35", "-accel", accel, "-cpu", "max", "-smp", "2", "-m", "1024",
            "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,file={vars_}",
            "-drive", f"if=virtio,format=qcow2,file={overlay}",
            "-nic", f"user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:{self.port}-:22",
            "-smbios", cred.format("ssh.authorized_keys.root"),
            "-smbios", cred.format("ssh.authorized_keys.tech"),
            "-serial", f"file:{self.serial}",
            "-display", "none", "-monitor", "none", "-no-reboot",
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> None:
        log(f"qemu: {' '.join(self.argv)}")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise Failed(f"qemu exited ({self.proc.returncode}) before the checks were done")
        if self.left() <= 0:
            raise Failed("time limit reached")

    def ssh_argv(self, user: str, *command: str, tty: bool = False) -> list[str]:
        return [
            "ssh", "-i", str(self.key), "-p", str(self.port),
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=20",
            *(["-tt"] if tty else []),
            f"{user}@127.0.0.1", *(["--", *command] if command else []),
        ]  # fmt: skip

    def ssh(
        self,
        user: str,
        *command: str,
        check: bool = True,
        timeout: float = 120.0,
        tty: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        argv = self.ssh_argv(user, *command, tty=tty)
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=min(timeout, max(self.left(), 1.0))
        )
        if check and result.returncode != 0:
            raise Failed(
                f"ssh {user}: {' '.join(command)} -> exit {result.returncode}\n"
                f"{result.stdout}{result.stderr}"
            )
        return result

    def wait_ssh(self) -> float:
        while True:
            self.alive()
            with contextlib.suppress(subprocess.TimeoutExpired):
                if self.ssh("root", "true", check=False, timeout=30).returncode == 0:
                    return time.monotonic() - self.started
            time.sleep(3)  # polling a booting VM, not timing a test

    def unit(self, *props: str) -> dict[str, str]:
        out = self.ssh("root", "systemctl", "show", "dialbox.service", *(f"-p{p}" for p in props))
        return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)

    def wait_active(self) -> dict[str, str]:
        props = ("Type", "ActiveState", "SubState", "StatusText", "ActiveEnterTimestampMonotonic")
        while True:
            self.alive()
            state = self.unit(*props)
            if state["ActiveState"] == "active" and state["SubState"] == "running":
                return state
            if state["ActiveState"] == "failed":
                journal = self.ssh("root", "journalctl", "-b", "-u", "dialbox", "--no-pager")
                raise Failed(f"dialbox.service failed:\n{journal.stdout[-4000:]}")
            time.sleep(2)  # polling the service state

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(Exception):
            self.ssh("root", "systemctl", "poweroff", check=False, timeout=30)
        try:
            self.proc.wait(timeout=max(min(120.0, self.left()), 10.0))
            log("VM powered off")
        except subprocess.TimeoutExpired:
            log("VM did not power off; killing qemu")
            self.proc.kill()
            self.proc.wait()


def check(box: Box, wheel: Path | None) -> list[str]:
    figures = []
    t_ssh = box.wait_ssh()
    log(f"SSH answers {t_ssh:.0f} s after qemu start")

    state = box.wait_active()
    t_ready = time.monotonic() - box.started
    if state["Type"] != "notify":
        raise Failed(f"dialbox.service is Type={state['Type']}, not notify")
    log(f"dialbox.service active (running) — READY=1 heard; STATUS={state['StatusText']!r}")
    since_kernel = int(state["ActiveEnterTimestampMonotonic"]) / 1e6
    analyze = box.ssh("root", "systemd-analyze", check=False).stdout.strip().splitlines()
    figures.append(f"boot to READY=1: {t_ready:.0f} s from qemu start (seen by polling)")
    figures.append(f"boot to READY=1: {since_kernel:.1f} s from kernel start (systemd)")
    figures.append(f"systemd-analyze: {analyze[0] if analyze else '?'}")

    serial = box.serial.read_text(errors="replace")
    for needle in ("dialbox — first boot", "login:"):
        if needle not in serial:
            raise Failed(f"serial console: {needle!r} not seen")
    log("serial console: first-boot note and login prompt seen")

    for src, dest in units():
        want = hashlib.sha256((REPO / "systemd" / src).read_bytes()).hexdigest()
        got = box.ssh("root", "sha256sum", dest).stdout.split()[0]
        if got != want:
            raise Failed(f"{dest} in the box differs from systemd/{src}")
    enabled = box.ssh("root", "systemctl", "is-enabled", "dialbox.service").stdout.strip()
    log(f"unit files identical to systemd/ ({len(units())}); dialbox.service {enabled}")

    fetch = (
        "import ssl, urllib.request as u; "
        "c = ssl.create_default_context(cafile='/var/lib/dialbox/tls/cert.pem'); "
        "print(u.urlopen('https://127.0.0.1:8080/metrics', context=c).read().decode())"
    )
    metrics = box.ssh("root", "/opt/dialbox/bin/python", "-c", shlex.quote(fetch)).stdout
    if "dialbox_build_info" not in metrics:
        raise Failed(f"/metrics answered without dialbox metrics:\n{metrics[:2000]}")
    fingerprint = box.ssh(
        "root", "openssl", "x509", "-noout", "-fingerprint", "-sha256",
        "-in", "/var/lib/dialbox/tls/cert.pem",
    ).stdout.strip().split("=", 1)[-1]  # fmt: skip
    issue = box.ssh("root", "cat", "/etc/issue.d/dialbox-tls.issue").stdout
    if not fingerprint or fingerprint not in issue:
        raise Failed(f"the login note lacks the certificate's fingerprint {fingerprint}:\n{issue}")
    log(f"/metrics answers over HTTPS with the first-boot certificate ({len(metrics.splitlines())} "
        f"lines); its fingerprint {fingerprint[:23]}… is on the console login")  # fmt: skip

    console = box.ssh("tech", "--help", check=False)
    if console.returncode != 0:
        raise Failed(
            "the tech login did not start the console (`dialbox console --help` through the "
            f"login shell exited {console.returncode}):\n{console.stdout}{console.stderr}"
        )
    log("tech login -> dialbox console --help: exit 0")
    screen = console_screen(box)
    log(f"tech login on a terminal: the console drew its screen ({len(screen)} bytes, connected)")

    if wheel is not None:
        upgrade(box, wheel)
    return figures


def console_screen(box: Box, limit: float = 180.0) -> bytes:
    """Log in as tech on a terminal (as a technician does) and read until the console says it is
    connected to the daemon; then hang up."""
    env = dict(os.environ, TERM="xterm-256color")
    proc = subprocess.Popen(
        box.ssh_argv("tech", tty=True), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    screen = b""
    deadline = time.monotonic() + min(limit, box.left())
    try:
        while b"connected" not in screen:
            if time.monotonic() > deadline or proc.poll() is not None:
                tail = screen[-2000:].decode(errors="replace")
                raise Failed(f"the console did not come up on the tech login:\n{tail}")
            chunk = proc.stdout.read()
            if chunk:
                screen += chunk
            else:
                time.sleep(0.5)  # reading a remote terminal, not timing a test
    finally:
        proc.kill()
        proc.wait()
    if b"dialbox" not in screen:
        raise Failed("the tech login drew a screen without the dialbox console's bar")
    return screen


def upgrade(box: Box, wheel: Path) -> None:
    """Reinstall the wheel as a field upgrade does; the campaign made before it must survive."""
    as_dialbox = ("runuser", "-u", "dialbox", "--", "/opt/dialbox/bin/dialbox")
    box.ssh("root", *as_dialbox, "campaign", "create", "upgrade-check")
    copy = [
        "scp", "-q", "-i", str(box.key), "-P", str(box.port),
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
        str(wheel), f"root@127.0.0.1:/tmp/{wheel.name}",
    ]  # fmt: skip
    subprocess.run(copy, check=True, timeout=max(box.left(), 1.0))
    box.ssh("root", "/usr/local/sbin/dialbox-upgrade", f"/tmp/{wheel.name}", timeout=900)
    box.wait_active()
    listed = box.ssh("root", *as_dialbox, "campaign", "list").stdout
    if "upgrade-check" not in listed:
        raise Failed(f"the database lost the campaign across the upgrade:\n{listed}")
    log("upgrade: wheel reinstalled, service restarted, database kept")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--image", type=Path, default=HERE / "build" / "dialbox-amd64.img")
    ap.add_argument(
        "--timeout", type=float, default=float(os.environ.get("IMAGE_TEST_TIMEOUT", 1500))
    )
    ap.add_argument("--accel", default=os.environ.get("IMAGE_TEST_ACCEL", "tcg"))
    ap.add_argument("--no-upgrade", action="store_true", help="skip the upgrade check")
    args = ap.parse_args()
    if not args.image.exists():
        print(f"{args.image} not found: run `make image` first", file=sys.stderr)
        return 2
    wheels = sorted((args.image.parent / "wheel").glob("dialbox-*.whl"))
    wheel = None if args.no_upgrade or not wheels else wheels[-1]
    deadline = time.monotonic() + args.timeout
    need_tools()
    with tempfile.TemporaryDirectory(prefix="image-test-", dir=args.image.parent) as tmp:
        box = Box(args.image, Path(tmp), deadline, args.accel)
        box.start()
        try:
            figures = check(box, wheel)
        except (Failed, subprocess.SubprocessError) as e:
            log(f"FAILED: {e}")
            tail = box.serial.read_text(errors="replace")[-3000:] if box.serial.exists() else ""
            print(f"--- serial console (tail) ---\n{tail}", file=sys.stderr)
            return 1
        finally:
            box.stop()
    print("image-test: all checks passed")
    for line in figures:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

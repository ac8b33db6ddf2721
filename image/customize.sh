#!/usr/bin/env bash
# mmdebstrap customize hook: turn the fresh Debian root in $1 into a dialbox box.
#   $1: the root folder (proc, sys and dev are mounted by mmdebstrap while this runs)
#   $2: the dialbox wheel
set -euo pipefail

root=$1
wheel=$2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# Commands in the root get a clean environment (no PIP_* or proxy settings of the build host).
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
log() { printf '[image %(%T)T] %s\n' -1 "$*" >&2; }

log "dialbox into /opt/dialbox (venv)"
rm -f "$root/etc/resolv.conf"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$wheel" "$root/tmp/"
in_root python3 -m venv /opt/dialbox
# The build host's CA bundle, for this install only: a host behind a TLS-inspecting proxy trusts
# its CA there, the fresh Debian root does not.
cp "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$root/tmp/build-ca.pem"
in_root /opt/dialbox/bin/pip install --quiet --no-cache-dir --disable-pip-version-check \
    --cert /tmp/build-ca.pem "/tmp/$(basename "$wheel")"
rm -f "$root/tmp/$(basename "$wheel")" "$root/tmp/build-ca.pem"
ln -sf /opt/dialbox/bin/dialbox "$root/usr/local/bin/dialbox"

log "units from systemd/ (image/units.list)"
while read -r src dest; do
    case $src in '' | '#'*) continue ;; esac
    install -D -m 0644 "$repo/systemd/$src" "$root$dest"
done <"$here/units.list"
in_root systemd-sysusers
in_root systemd-tmpfiles --create /usr/lib/tmpfiles.d/dialbox.conf

log "configuration, login, network"
cp -r --no-preserve=ownership "$here/rootfs/." "$root/"
# The group is the box's, not the build host's: resolve it inside the root. The daemon may
# write its config (the console's first-run setup, docs/console.md): group-writable.
in_root chown root:dialbox /etc/dialbox /etc/dialbox/dialbox.yaml
chmod 0770 "$root/etc/dialbox"
chmod 0660 "$root/etc/dialbox/dialbox.yaml"
chmod 0755 "$root"/usr/local/sbin/dialbox-*
# The API's certificate is made on the box (dialbox-tls.service); its fingerprint goes here.
mkdir -p "$root/etc/issue.d"
in_root /opt/dialbox/bin/dialbox check-config /etc/dialbox/dialbox.yaml >/dev/null

# The technician: SSH (and the serial console) land in `dialbox console`. No password is set
# here: keys come from the build (IMAGE_TECH_KEYS) or at first boot from the system credential
# ssh.authorized_keys.tech (see image/README.md); `passwd tech` as root sets one.
in_root useradd --create-home --shell /usr/local/sbin/dialbox-login --groups dialbox tech
grep -qx /usr/local/sbin/dialbox-login "$root/etc/shells" \
    || echo /usr/local/sbin/dialbox-login >>"$root/etc/shells"
if [ -n "${IMAGE_TECH_KEYS:-}" ]; then
    install -D -m 0600 "$IMAGE_TECH_KEYS" "$root/home/tech/.ssh/authorized_keys"
    in_root chown -R tech:tech /home/tech/.ssh
    chmod 0700 "$root/home/tech/.ssh"
fi

echo dialbox >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdialbox\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
    >"$root/etc/hosts"
echo 'LANG=C.UTF-8' >"$root/etc/default/locale"
rm -f "$root/etc/resolv.conf"
ln -s ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
in_root systemctl enable --quiet dialbox.service dialbox-firstboot.service dialbox-tls.service \
    ssh.service \
    systemd-networkd.service systemd-resolved.service systemd-timesyncd.service

# Every box makes its own identity at first boot: machine id and SSH host keys.
rm -f "$root"/etc/ssh/ssh_host_*
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

log "clean up"
in_root apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log

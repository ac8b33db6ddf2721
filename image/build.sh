#!/usr/bin/env bash
# make image: an x86-64 disk image that boots by itself (UEFI), built without loop mounts.
#   1. the dialbox wheel, from this checkout;
#   2. a minimal Debian 12 root in a folder (mmdebstrap), with dialbox in /opt/dialbox (a venv),
#      the units from systemd/ (image/units.list), image/rootfs/ laid over it;
#   3. an ext4 filesystem made from that folder (mkfs.ext4 -d) and an EFI System Partition made
#      with mtools holding a standalone GRUB, placed in a GPT disk image with sfdisk + dd.
# Output: image/build/dialbox-amd64.img (raw). Needs root (chroot, file ownership).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
out=${IMAGE_BUILD_DIR:-$here/build}
suite=${IMAGE_SUITE:-bookworm}
mirror=${IMAGE_MIRROR:-http://deb.debian.org/debian}
esp_mib=64
free_mib=${IMAGE_FREE_MIB:-1024}   # room for the database, logs and a kernel upgrade
label=dialbox-root
img=$out/dialbox-amd64.img

log() { printf '[image %(%T)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (chroot and file ownership in the image)"

# Build tools, installed when missing (Debian package for each command).
need_tools() {
    local want=() pair cmd pkg
    for pair in mmdebstrap:mmdebstrap mkfs.ext4:e2fsprogs mkfs.vfat:dosfstools mcopy:mtools \
        sfdisk:fdisk grub-mkstandalone:grub-common; do
        cmd=${pair%%:*} pkg=${pair#*:}
        command -v "$cmd" >/dev/null || want+=("$pkg")
    done
    [ -d /usr/lib/grub/x86_64-efi ] || want+=(grub-efi-amd64-bin)
    if ((${#want[@]})); then
        log "installing build tools: ${want[*]}"
        command -v apt-get >/dev/null || die "missing ${want[*]} and no apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
    fi
}
need_tools

python=${PYTHON:-}
if [ -z "$python" ]; then
    if [ -x "$repo/.venv/bin/python" ]; then python=$repo/.venv/bin/python; else python=python3; fi
fi

start=$(date +%s)
rm -rf "$out/rootfs" "$out/wheel"
mkdir -p "$out/wheel"

log "building the dialbox wheel"
"$python" -m pip wheel --quiet --no-deps -w "$out/wheel" "$repo"
wheel=$(find "$out/wheel" -name 'dialbox-*.whl' | head -n1)
[ -n "$wheel" ] || die "no wheel built"

packages=(
    systemd systemd-sysv systemd-resolved systemd-timesyncd udev dbus libpam-systemd
    linux-image-amd64 initramfs-tools zstd
    openssh-server ca-certificates openssl iproute2 less sqlite3 tzdata
    python3 python3-venv
)
packages_csv=$(IFS=,; echo "${packages[*]}")

log "mmdebstrap $suite into $out/rootfs"
mmdebstrap --variant=apt --architectures=amd64 --include="$packages_csv" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook="\"$here/customize.sh\" \"\$1\" \"$wheel\"" \
    "$suite" "$out/rootfs" "$mirror"

root_kib=$(du -sk --apparent-size "$out/rootfs" | cut -f1)
root_mib=$(( (root_kib * 12 / 10) / 1024 + free_mib ))
log "root filesystem: $((root_kib / 1024)) MiB of files in a $root_mib MiB ext4"
rm -f "$out/root.ext4" "$out/esp.vfat" "$img"
mkfs.ext4 -q -L "$label" -d "$out/rootfs" "$out/root.ext4" "${root_mib}M"

log "EFI System Partition with a standalone GRUB"
grub-mkstandalone -O x86_64-efi -o "$out/BOOTX64.EFI" \
    --modules="part_gpt ext2 search search_label normal linux echo serial terminal" \
    --locales= --themes= --fonts= \
    "boot/grub/grub.cfg=$here/grub-efi.cfg"
mkfs.vfat -C -F 32 -n DIALBOX-EFI "$out/esp.vfat" $((esp_mib * 1024)) >/dev/null
mmd -i "$out/esp.vfat" ::/EFI ::/EFI/BOOT
mcopy -i "$out/esp.vfat" "$out/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI

log "GPT disk image"
disk_mib=$((1 + esp_mib + root_mib + 1))
truncate -s "${disk_mib}M" "$img"
# Types: EFI System, and the discoverable-partitions "Linux root (x86-64)".
sfdisk --quiet "$img" <<SFDISK
label: gpt
start=1MiB, size=${esp_mib}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp
start=$((1 + esp_mib))MiB, size=${root_mib}MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=root
SFDISK
dd if="$out/esp.vfat" of="$img" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$out/root.ext4" of="$img" bs=1M seek=$((1 + esp_mib)) conv=notrunc,sparse status=none
rm -f "$out/root.ext4" "$out/esp.vfat"

took=$(( $(date +%s) - start ))
size=$(du -m --apparent-size "$img" | cut -f1)
used=$(du -m "$img" | cut -f1)
printf 'image: %s\nsize: %s MiB (%s MiB allocated)\nbuild: %s s\n' "$img" "$size" "$used" "$took" \
    | tee "$out/build-figures.txt"

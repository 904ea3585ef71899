#!/usr/bin/env bash
# Installs the Debian packages personal-cloud needs on the build machine.
#   scripts/deps.sh build   — what `make iso` needs (image building)
#   scripts/deps.sh test    — plus what the default test suite needs (QEMU, OVMF, glusterfs, chromium + Cockpit, …)
#   scripts/deps.sh long    — plus what the long scenarios and e2e need (libvirt, pacemaker, …)
# Idempotent; skips apt when everything is already there.
set -euo pipefail
# The boot loaders (shim, GRUB, isolinux, syslinux, pxelinux) come from the release's packages
# in the archive, not from this machine; the tests install the host's copies to check
# `build --host-loaders` and that images do not carry them otherwise.
BUILD_PKGS=(xorriso grub-efi-amd64-bin
  mtools dosfstools gpgv debian-archive-keyring xz-utils cpio ca-certificates dnsmasq-base)
TEST_PKGS=(qemu-system-x86 qemu-utils ovmf debconf glusterfs-server glusterfs-client xfsprogs
  iproute2 util-linux procps psmisc openssl e2fsprogs lvm2 kmod bc attr openssh-client dpkg curl ipxe-qemu
  shim-signed grub-efi-amd64-signed isolinux syslinux-common
  chromium cockpit-ws cockpit-bridge cockpit-system sudo libnss3-tools systemd fio
  clevis clevis-tpm2 clevis-luks cryptsetup-bin tang jose swtpm tpm2-tools openssh-server borgbackup)
LONG_PKGS=(libvirt-daemon-system libvirt-clients corosync pacemaker pacemaker-cli-utils resource-agents
  fence-agents corosync-qdevice corosync-qnetd openvswitch-switch busybox-static sbd debootstrap grub-pc-bin gdisk rclone)
pkgs=("${BUILD_PKGS[@]}")
case "${1:-build}" in
  test) pkgs+=("${TEST_PKGS[@]}") ;;
  long) pkgs+=("${TEST_PKGS[@]}" "${LONG_PKGS[@]}") ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

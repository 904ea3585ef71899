#!/bin/sh
# partman/early_command: resolve the OS disk selector from cluster.yaml to one device, refuse a
# disk that holds data unless the selector allows wiping it, then point partman and GRUB at it.
# The conf file sets: ID= (a /dev/disk/by-id path) or MIN_BYTES= MAX_BYTES= MODEL= SERIAL= TYPE=,
# and WIPE=true|false.
set -u
conf=$1
# Overridable for tests only; the installer has the real ones.
SYS=${PC_SYSFS:-/sys}
DEV=${PC_DEVDIR:-/dev}
ID= MIN_BYTES= MAX_BYTES= MODEL= SERIAL= TYPE= WIPE=false
. "$conf"
say() { echo "personal-cloud: $*" > /dev/console; logger -t personal-cloud "$*" 2>/dev/null; }
fail() { say "ERROR: $*"; say "Fix the OS disk selector in cluster.yaml (disks.os) and rebuild the medium."; exit 1; }

# shell glob match, case-sensitive like Proxmox's device-match
matches() { case "$1" in $2) return 0 ;; esac; return 1; }
attr() { cat "$1" 2>/dev/null | sed 's/[[:space:]]*$//' ; }

candidates=""
if [ -n "$ID" ]; then
  [ -e "$ID" ] || fail "disk $ID does not exist on this machine"
  dev=$(readlink -f "$ID")
  candidates=$(basename "$dev")
else
  for sys in "$SYS"/block/*; do
    d=$(basename "$sys")
    case "$d" in loop*|ram*|sr*|fd*|md*|dm-*|zram*|nbd*) continue ;; esac
    [ "$(attr "$sys/removable")" = 1 ] && continue
    # the medium we booted from is never a target
    if grep -qs "^/dev/$d" "${PC_MOUNTS:-/proc/mounts}"; then continue; fi
    bytes=$(( $(attr "$sys/size") * 512 ))
    [ "$bytes" -gt 0 ] || continue
    [ -n "$MIN_BYTES" ] && [ "$bytes" -lt "$MIN_BYTES" ] && continue
    [ -n "$MAX_BYTES" ] && [ "$bytes" -gt "$MAX_BYTES" ] && continue
    model=$(attr "$sys/device/model"); serial=$(attr "$sys/device/serial"); [ -n "$serial" ] || serial=$(attr "$sys/serial")
    [ -n "$MODEL" ] && ! matches "$model" "$MODEL" && continue
    [ -n "$SERIAL" ] && ! matches "$serial" "$SERIAL" && continue
    if [ -n "$TYPE" ]; then
      rot=$(attr "$sys/queue/rotational")
      [ "$TYPE" = hdd ] && [ "$rot" != 1 ] && continue
      [ "$TYPE" = ssd ] && [ "$rot" != 0 ] && continue
    fi
    candidates="$candidates $d"
  done
fi
set -- $candidates
[ $# -eq 0 ] && fail "no disk matches the OS disk selector"
[ $# -gt 1 ] && fail "the OS disk selector matches $# disks ($*): it must match exactly one"
disk=$DEV/$1

# Data check: partitions, or any signature at the start of the disk (filesystem, LVM, LUKS, MBR/GPT).
if [ "$WIPE" != true ]; then
  if ls "$SYS/block/$1/" | grep -q "^$1"; then
    fail "$disk has partitions; refusing to erase it (set wipe: true on disks.os to allow)"
  fi
  if [ -n "$(dd if=$disk bs=4096 count=16 2>/dev/null | tr -d '\000' | head -c 1)" ]; then
    fail "$disk is not blank (it holds a filesystem or other data); refusing to erase it (set wipe: true on disks.os to allow)"
  fi
fi
say "OS disk: $disk"
debconf-set partman-auto/disk "$disk"
debconf-set grub-installer/bootdev "$disk"
exit 0

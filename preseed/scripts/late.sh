#!/bin/sh
# preseed/late_command: install the first-boot agent and this node's configuration into
# /target, and enable the agent. Idempotent: re-running it rewrites the same files.
set -eu
node=$1
src=/personal-cloud
t=/target
say() { echo "personal-cloud: $*" > /dev/console; logger -t personal-cloud "$*" 2>/dev/null || true; }

install_file() { # MODE SRC DEST
  mkdir -p "$(dirname "$3")"
  cp "$2" "$3.new" && chmod "$1" "$3.new" && mv "$3.new" "$3"
}

mkdir -p $t/var/lib/personal-cloud
chmod 0700 $t/var/lib/personal-cloud
# The node files (src/render/node-files.ts): agent, its unit and configuration, system files.
# files.list says for each one: MODE SOURCE (under $src) DESTINATION (on the node).
while read -r mode from to; do
  [ -n "$mode" ] || continue
  install_file "$mode" "$src/$from" "$t$to"
done < $src/nodes/$node/files.list

# Every user from cluster.yaml: the first one was created by user-setup; groups that only
# exist once the virtualisation packages are installed are added here.
while IFS=: read -r user hash groups keyfile fullname; do
  [ -n "$user" ] || continue
  if ! chroot $t id "$user" >/dev/null 2>&1; then
    chroot $t useradd --create-home --shell /bin/bash --comment "$fullname" "$user"
  fi
  printf '%s:%s\n' "$user" "$hash" | chroot $t chpasswd -e
  for g in $(echo "$groups" | tr ',' ' '); do
    chroot $t getent group "$g" >/dev/null 2>&1 && chroot $t usermod -aG "$g" "$user"
  done
  if [ -s "$src/users/$keyfile" ]; then
    home=$(chroot $t getent passwd "$user" | cut -d: -f6)
    mkdir -p "$t$home/.ssh"
    install_file 0600 "$src/users/$keyfile" "$t$home/.ssh/authorized_keys"
    chmod 0700 "$t$home/.ssh"
    chroot $t chown -R "$user:$user" "$home/.ssh"
  fi
done < $src/users/users.list

# The serial console gets a login too (headless boxes).
chroot $t systemctl enable serial-getty@ttyS0.service >/dev/null 2>&1 || true
chroot $t systemctl enable personal-cloud-agent.service
# The agent starts corosync and pacemaker once its configuration is in place: started at boot with
# Debian's default corosync.conf every node would form a one-member cluster (src/disk DISABLED_UNITS).
chroot $t systemctl disable corosync.service pacemaker.service >/dev/null 2>&1 || true
# (installed only with a quorum device; qdevice would start corosync, qnetd runs on one node only)
chroot $t systemctl disable corosync-qdevice.service >/dev/null 2>&1 || true
chroot $t systemctl disable corosync-qnetd.service >/dev/null 2>&1 || true
# Netboot installs tell the PXE server, which then boots this MAC from the local disk.
[ -x /personal-cloud/pxe/report-installed.sh ] && /personal-cloud/pxe/report-installed.sh || true
say "first-boot agent installed for $node; the cluster forms after the first boot"

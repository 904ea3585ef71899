#!/bin/sh
# Universal medium: runs as an installer startup script just before the initrd preseed is
# read, and puts the answers of the node this PC is at /preseed.cfg. pc.node=NAME on the
# kernel command line wins; pc.node=auto matches this PC's MACs against cluster.yaml.
# An unknown PC is never installed: its /preseed.cfg stops the installer with the reason.
nodes=/personal-cloud/nodes
say() { echo "personal-cloud: $*" > /dev/console; logger -t personal-cloud "$*" 2>/dev/null; }

stop_install() {
  say "ERROR: $1"
  cat > /preseed.cfg <<STOP
d-i preseed/early_command string echo "personal-cloud: not installing: $1" > /dev/console; exit 1
STOP
  exit 0
}

if [ -f /personal-cloud/serial-log ]; then
  sh /personal-cloud/early.sh "" --serial-log-only
fi

choice=$(sed -n 's/.*\bpc\.node=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$choice" ] && [ "$choice" != auto ]; then
  [ -f "$nodes/$choice/preseed.cfg" ] || stop_install "no node named '$choice' on this medium"
  say "installing node $choice (chosen at boot)"
  cp "$nodes/$choice/preseed.cfg" /preseed.cfg
  exit 0
fi

# NIC drivers may still be loading: give them a moment to show their MACs.
tries=0
while [ "$(ls /sys/class/net 2>/dev/null | grep -vc '^lo$')" = 0 ] && [ $tries -lt 15 ]; do
  sleep 1; tries=$((tries + 1))
done
macs=$(cat /sys/class/net/*/address 2>/dev/null | grep -v '^00:00:00:00:00:00$')
for mac in $macs; do
  for f in "$nodes"/*/mac; do
    [ -f "$f" ] || continue
    if [ "$(cat "$f")" = "$mac" ]; then
      n=$(basename "$(dirname "$f")")
      say "installing node $n (matched MAC $mac)"
      cp "$nodes/$n/preseed.cfg" /preseed.cfg
      exit 0
    fi
  done
done
stop_install "this PC's MACs ($(echo $macs)) match no node in cluster.yaml; choose a node in the boot menu or add its MAC and rebuild"

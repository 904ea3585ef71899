#!/bin/sh
# Prints the preseed file of the node this machine is (d-i preseed/include_command).
# pc.node=NAME on the kernel command line wins; pc.node=auto matches MACs from cluster.yaml.
nodes=/personal-cloud/nodes
say() { echo "personal-cloud: $*" > /dev/console; logger -t personal-cloud "$*" 2>/dev/null; }

choice=$(sed -n 's/.*\bpc\.node=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$choice" ] && [ "$choice" != auto ]; then
  if [ -f "$nodes/$choice/preseed.cfg" ]; then
    say "installing node $choice (chosen at boot)"
    echo "$nodes/$choice/preseed.cfg"; exit 0
  fi
  say "no node named '$choice' on this medium"; exit 0
fi
# This runs while the initrd preseed loads, possibly before the NIC drivers: wait for them.
udevadm settle --timeout=20 2>/dev/null || true
tries=0
while [ "$(ls /sys/class/net 2>/dev/null | grep -vc '^lo$')" = 0 ] && [ $tries -lt 20 ]; do
  sleep 1; tries=$((tries + 1))
done
for mac in $(cat /sys/class/net/*/address 2>/dev/null); do
  for f in "$nodes"/*/mac; do
    [ -f "$f" ] || continue
    if [ "$(cat "$f")" = "$mac" ]; then
      n=$(basename "$(dirname "$f")")
      say "installing node $n (matched MAC $mac)"
      echo "$nodes/$n/preseed.cfg"; exit 0
    fi
  done
done
say "this machine's MACs match no node in cluster.yaml: not installing unattended"
exit 0

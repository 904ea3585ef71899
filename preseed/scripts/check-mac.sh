#!/bin/sh
# Is this the PC a node's answers are for? The node's preseed picks its network card by MAC
# (netcfg/choose_interface), so on another PC netcfg could only report that "Configure the
# network" failed. Run before netcfg: exits 1 and prints what happened and what to do (one
# sentence a line: syslog keeps short lines whole) when the node has a MAC and none of this
# PC's network cards has it. Usage: check-mac.sh NODE_DIR
set -u
dir=$1
# Overridable for tests only; the installer has the real ones.
SYS=${PC_SYSFS:-/sys}
WAIT=${PC_NIC_WAIT:-15}
[ -f "$dir/mac" ] || exit 0
want=$(cat "$dir/mac")
node=$(basename "$dir")

# NIC drivers may still be loading: a card that is not there yet gets a few seconds.
tries=0
while :; do
  cards="" count=0
  for n in "$SYS"/class/net/*; do
    name=${n##*/}
    [ "$name" = lo ] && continue
    mac=$(cat "$n/address" 2>/dev/null) || continue
    case "$mac" in ''|00:00:00:00:00:00) continue ;; esac
    [ "$mac" = "$want" ] && exit 0
    cards="$cards${cards:+, }$mac ($name)" count=$((count + 1))
  done
  [ "$tries" -ge "$WAIT" ] && break
  sleep 1; tries=$((tries + 1))
done
if [ "$count" = 0 ]; then
  # No card shows up yet (its driver may come later, e.g. from a CD): netcfg will tell.
  echo "personal-cloud: no network card visible yet; the MAC of $node ($want) is checked by netcfg" >&2
  exit 0
fi

if [ "$count" = 1 ]; then have="this PC's network card is $cards"; else have="this PC's network cards are $cards"; fi
if [ "$(ls "$dir/.." | wc -l)" -gt 1 ]; then
  echo "Node $node was chosen at boot (network card $want), but $have."
  todo="Choose this PC's node (or the automatic entry) in the boot menu, or fix $node's mac in cluster.yaml and rebuild."
else
  echo "This stick installs $node (network card $want), but $have."
  todo="Use the universal stick, or fix $node's mac in cluster.yaml and rebuild."
fi
echo "Nothing was installed and no disk was changed."
echo "$todo"
exit 1

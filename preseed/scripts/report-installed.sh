#!/bin/sh
# Tells the PXE server (`personal-cloud serve`) that this node is installed, so that its next
# network boot goes to the local disk instead of reinstalling it. Called from late.sh; never
# fails the install: without a PXE server (USB install) it does nothing.
#   GET http://SERVER:PORT/installed/<mac>?token=<token>  (token: HMAC of the MAC with the join key)
# SERVER and PORT come from the boot loader's command line (pc.pxe-server=, pc.pxe-port=): GRUB
# and iPXE fill in their boot server, `serve` stamps its address into the pxelinux entries.
dir=${PC_PXE_DIR:-/personal-cloud/pxe}
cmdline=${PC_CMDLINE:-/proc/cmdline}
[ -r "$dir/token" ] && [ -r "$dir/mac" ] || exit 0
server= port=
for arg in $(cat "$cmdline"); do
  case $arg in
    pc.pxe-server=*) server=${arg#pc.pxe-server=} ;;
    pc.pxe-port=*) port=${arg#pc.pxe-port=} ;;
  esac
done
case $server in ''|unset|'${'*) exit 0 ;; esac
[ -n "$port" ] || exit 0
mac=$(cat "$dir/mac")
token=$(cat "$dir/token")
url="http://$server:$port/installed/$mac?token=$token"
i=0
while [ $i -lt 5 ]; do
  if wget -q -T 10 -O /dev/null "$url" 2>/dev/null; then
    echo "personal-cloud: told the PXE server $server:$port that $mac is installed" > "${PC_CONSOLE:-/dev/console}"
    exit 0
  fi
  i=$((i + 1))
  sleep 2
done
echo "personal-cloud: could not reach the PXE server $server:$port (its next network boot may offer the install again)" > "${PC_CONSOLE:-/dev/console}"
exit 0

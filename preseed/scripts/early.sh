#!/bin/sh
# preseed/early_command of a node: say which node installs; with --serial-log, stream the
# installer's syslog to the second serial port (tests, headless debugging). On a PC that is not
# the node's (its MAC is on no network card here), say so and power off: before netcfg, so
# nothing is installed and no disk is touched.
node=$1
say() { echo "personal-cloud: $*" > /dev/console; logger -t personal-cloud "$*" 2>/dev/null; }

# A critical error is shown even with auto=true priority=critical, on whatever console the
# installer uses (screen or serial); Continue powers the PC off.
stop_wrong_pc() {
  echo "$1" | while read -r line; do say "ERROR: not installing: $line"; done
  . /usr/share/debconf/confmodule
  cat > /tmp/personal-cloud.templates <<'TEMPLATE'
Template: personal-cloud/wrong-pc
Type: error
Description: Not installing: this PC is not the one this installer is for
 ${MESSAGE}
 .
 Continue powers this PC off.
TEMPLATE
  db_x_loadtemplatefile /tmp/personal-cloud.templates personal-cloud
  db_subst personal-cloud/wrong-pc MESSAGE "$(printf '%s' "$1" | tr '\n' ' ')"
  db_input critical personal-cloud/wrong-pc || true
  db_go || true
  say "powering off (nothing was installed)"
  # -f: init handles a poweroff request only after the startup scripts, this one among them, end.
  sync; poweroff -f
  while :; do sleep 60; done
}

[ -n "$node" ] && echo "personal-cloud: preseed for $node loaded" > /dev/console
if { [ "${2:-}" = --serial-log ] || [ "${2:-}" = --serial-log-only ]; } && [ ! -e /var/run/pc-serial-log ]; then
  touch /var/run/pc-serial-log
  # The background job must close the debconf fds (3..9) or cdebconf waits for it forever.
  (while [ ! -e /var/log/syslog ]; do sleep 1; done; exec tail -n +1 -f /var/log/syslog > /dev/ttyS1) </dev/null >/dev/null 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
fi
if [ -n "$node" ] && ! why=$(sh /personal-cloud/check-mac.sh "/personal-cloud/nodes/$node"); then
  stop_wrong_pc "$why"
fi
exit 0

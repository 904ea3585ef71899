#!/bin/sh
# preseed/early_command of a node: say which node installs; with --serial-log, stream the
# installer's syslog to the second serial port (tests, headless debugging).
node=$1
[ -n "$node" ] && echo "personal-cloud: preseed for $node loaded" > /dev/console
if { [ "${2:-}" = --serial-log ] || [ "${2:-}" = --serial-log-only ]; } && [ ! -e /var/run/pc-serial-log ]; then
  touch /var/run/pc-serial-log
  # The background job must close the debconf fds (3..9) or cdebconf waits for it forever.
  (while [ ! -e /var/log/syslog ]; do sleep 1; done; exec tail -n +1 -f /var/log/syslog > /dev/ttyS1) </dev/null >/dev/null 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
fi
exit 0

// Where personal-cloud lives on a node and how its agents talk: shared by the builder (which
// writes these files into images) and the agent (which reads them).

export const AGENT_CONFIG_DIR = '/etc/personal-cloud';
export const AGENT_STATE_DIR = '/var/lib/personal-cloud';
export const AGENT_SCRIPT_PATH = '/usr/lib/personal-cloud/personal-cloud-agent.mjs';
export const AGENT_UNIT_PATH = '/etc/systemd/system/personal-cloud-agent.service';
/** The `personal-cloud` command on a node (vm, node, status), a wrapper around the agent script. */
export const CLI_WRAPPER = '/usr/local/sbin/personal-cloud';

/** TCP port of the agents' authenticated HTTP channel; the UDP beacon uses the same number. */
export const AGENT_PORT = 7447;
export const MULTICAST_GROUP = '239.255.74.47';

/** The web console: Cockpit's port (cockpit.socket) and where our page ("Personal Cloud") is installed. */
export const COCKPIT_PORT = 9090;
export const COCKPIT_PAGE_DIR = '/usr/share/cockpit/personal-cloud';

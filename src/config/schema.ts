// JSON Schema (draft 2020-12) of cluster.yaml for editors (yaml-language-server). The
// validator (validate.ts) is the authority and gives the better messages; this schema lists
// the same keys (test/config.test.ts compares it with CONFIG_KEYS) so completion never offers
// a key the validator rejects.

const HOSTNAME = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';
const IPV4 = '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$';
const CRYPT = '^\\$(6|5|y|gy|7|2[aby])\\$';
const HTTP_URL = '^https?://';

const selectorList = (description: string) => ({ type: 'array', description, items: { $ref: '#/$defs/diskSelector' } });

export const clusterSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'urn:personal-cloud:cluster:v1',
  title: 'personal-cloud cluster description (cluster.yaml)',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'domain', 'secret', 'users', 'nodes'],
  properties: {
    name: { type: 'string', pattern: HOSTNAME, maxLength: 63, description: 'Cluster name: lower-case letters, digits and -.' },
    domain: { type: 'string', maxLength: 253, pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$', description: 'DNS domain of the nodes, e.g. lab.example.org.' },
    release: { enum: ['trixie', 'bookworm'], default: 'trixie', description: 'Debian release: trixie (13) or bookworm (12).' },
    replica: { enum: [2, 3], default: 3, description: '3, or 2 with an arbiter node.' },
    secret: { type: 'string', minLength: 32, pattern: '^[\\x21-\\x7e]+$', description: 'Cluster join token; `personal-cloud init` generates one. Nodes get only a derived key.' },
    timezone: { type: 'string', default: 'UTC', description: 'UTC or Area/City, e.g. Europe/Berlin.' },
    locale: { type: 'string', default: 'en_US.UTF-8' },
    keyboard: { type: 'string', default: 'us', description: 'X keyboard layout, e.g. us, de, fr.' },
    ntp: { type: 'array', minItems: 1, items: { type: 'string' }, default: ['0.debian.pool.ntp.org', '1.debian.pool.ntp.org'] },
    mirror: {
      type: 'object',
      additionalProperties: false,
      properties: {
        url: { type: 'string', pattern: HTTP_URL, default: 'http://deb.debian.org/debian' },
        proxy: { type: 'string', pattern: '^http://', description: 'HTTP proxy for the installer and apt, e.g. apt-cacher-ng.' },
        security_url: { type: 'string', pattern: HTTP_URL, default: 'http://deb.debian.org/debian-security' },
      },
    },
    root: {
      type: 'object',
      additionalProperties: false,
      description: 'Absent (or no password_hash): root cannot log in.',
      properties: { password_hash: { $ref: '#/$defs/passwordHash' } },
    },
    users: { type: 'array', minItems: 1, items: { $ref: '#/$defs/user' } },
    encryption: {
      type: 'object',
      additionalProperties: false,
      description: 'Brick encryption: LUKS2 on every brick disk, unlocked by clevis when `threshold` of the pins answer. Each brick also gets a recovery passphrase (`personal-cloud recovery-key`).',
      properties: {
        peers: { type: 'boolean', default: false, description: 'Every node runs tang on the cluster network; a brick is bound to the other nodes\' tang (a box carried away alone stays locked).' },
        tang: {
          type: 'array',
          description: 'External tang servers, each a URL or { url, thp } (thp: the thumbprint `tang-show-keys` prints; pins the server\'s key).',
          items: {
            anyOf: [
              { type: 'string', pattern: HTTP_URL },
              { type: 'object', additionalProperties: false, required: ['url'], properties: { url: { type: 'string', pattern: HTTP_URL }, thp: { type: 'string', pattern: '^[A-Za-z0-9_-]{27,86}$' } } },
            ],
          },
        },
        tpm2: { type: 'boolean', default: false, description: 'One more share sealed to the node\'s TPM2 (PCR 7). Alone it lets a stolen box unlock itself.' },
        threshold: { type: 'integer', minimum: 1, default: 1, description: 'How many pins must answer to unlock a brick.' },
      },
    },
    network: { $ref: '#/$defs/network', description: 'Defaults for every node.' },
    disks: { $ref: '#/$defs/disks', description: 'Default disk selectors for every node.' },
    volumes: {
      type: 'object',
      additionalProperties: false,
      properties: {
        gv0: { $ref: '#/$defs/volume', description: 'Replicated VM disks (default: enabled, 1 brick per node).' },
        gv1: { $ref: '#/$defs/volume', description: 'Replicated backups and ISOs (default: disabled, 2 bricks per node).' },
        bmv0: { $ref: '#/$defs/volume', description: 'Local bare-metal-speed VM disks (default: disabled, 1 brick per node).' },
      },
    },
    nodes: { type: 'array', minItems: 2, maxItems: 9, items: { $ref: '#/$defs/node' } },
    ha: {
      type: 'object',
      additionalProperties: false,
      description: 'HA VM stack: corosync + Pacemaker, fencing, quorum device, Open vSwitch bridges.',
      properties: {
        enabled: { type: 'boolean', default: true },
        fencing: { enum: ['sbd', 'ipmi', 'none-i-accept-vm-disk-corruption'], default: 'sbd', description: 'sbd: diskless SBD with the hardware watchdog (3+ nodes); ipmi: fence_ipmilan on each node\'s bmc; the third value runs WITHOUT fencing (risks VM disk corruption).' },
        watchdog: { type: 'string', pattern: '^/dev/watchdog[0-9]*$', default: '/dev/watchdog' },
        qdevice: { type: 'string', description: 'The quorum device (corosync-qnetd): the tie-breaker vote a 2-node cluster needs. A node of this cluster (typically the arbiter: its agent runs corosync-qnetd and exchanges the certificates, and it is no corosync member), or another host set up by hand.' },
        bridges: { type: 'array', items: { $ref: '#/$defs/bridge' } },
      },
    },
    backup: {
      type: 'object',
      additionalProperties: false,
      required: ['repository'],
      description: 'VM backups into a BorgBackup repository (encrypted with a passphrase derived from secret: `personal-cloud backup passphrase`).',
      properties: {
        repository: { type: 'string', pattern: '^(/mnt/gv[01]/[^\\s]+|ssh://[a-z_][a-z0-9_-]*@[a-zA-Z0-9.-]+(:[0-9]{1,5})?/.+)$', description: 'A directory on gv1 (or gv0), e.g. /mnt/gv1/backup, or ssh://user@host/path.' },
        schedule: { type: 'string', default: 'daily', description: 'systemd OnCalendar expression of the backup timer, e.g. daily or *-*-* 02:30.' },
        retention: {
          type: 'object',
          additionalProperties: false,
          properties: {
            keep_daily: { type: 'integer', minimum: 0, default: 7 },
            keep_weekly: { type: 'integer', minimum: 0, default: 4 },
            keep_monthly: { type: 'integer', minimum: 0, default: 12 },
          },
        },
        encryption: { enum: ['repokey', 'repokey-blake2'], default: 'repokey' },
        offsite: { type: 'string', description: 'rclone destination (remote:path) the repository is synced to after each run; the remote is configured in /etc/personal-cloud/rclone.conf.' },
      },
    },
  },
  $defs: {
    ipv4: { type: 'string', pattern: IPV4 },
    bridge: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      description: 'An Open vSwitch bridge, defined as an autostarted libvirt network: { name, nic } on a NIC, { name } standalone, { name, parent, vlan } a VLAN fake bridge.',
      properties: {
        name: { type: 'string', pattern: '^[a-zA-Z0-9][a-zA-Z0-9._-]{0,14}$' },
        nic: { type: 'string' },
        parent: { type: 'string' },
        vlan: { type: 'integer', minimum: 1, maximum: 4094 },
      },
    },
    bmc: {
      type: 'object',
      additionalProperties: false,
      required: ['address', 'user', 'password'],
      properties: { address: { type: 'string' }, user: { type: 'string' }, password: { type: 'string', minLength: 1, description: 'kept secret: sealed with the join key in the images, 0600 on the nodes' } },
    },
    passwordHash: { type: 'string', pattern: CRYPT, description: 'crypt(3) hash: `mkpasswd -m sha-512` or `openssl passwd -6`. Never a plaintext password.' },
    user: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'password_hash'],
      properties: {
        name: { type: 'string', pattern: '^[a-z_][a-z0-9_-]{0,31}$' },
        full_name: { type: 'string' },
        password_hash: { $ref: '#/$defs/passwordHash' },
        ssh_keys: { type: 'array', items: { type: 'string', pattern: '^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\\.com|sk-ecdsa-sha2-nistp256@openssh\\.com) ' }, default: [] },
        groups: { type: 'array', items: { type: 'string' }, default: ['sudo', 'libvirt', 'libvirt-qemu'] },
      },
    },
    network: {
      type: 'object',
      additionalProperties: false,
      properties: {
        prefix: { type: 'integer', minimum: 8, maximum: 30, default: 24 },
        gateway: { $ref: '#/$defs/ipv4' },
        dns: { type: 'array', items: { $ref: '#/$defs/ipv4' }, description: 'Default: the gateway.' },
      },
    },
    diskSelector: {
      type: 'object',
      additionalProperties: false,
      description: 'A disk by stable id or by a filter; never /dev/sdX (names change between boots).',
      oneOf: [{ required: ['id'] }, { required: ['match'] }],
      properties: {
        id: { type: 'string', pattern: '^/dev/disk/by-(id|path)/[^/\\s]+$' },
        match: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            size: { type: 'string', description: 'Decimal units as on the label: ">=500G", "<=2T", ">200G", "100G-200G"; KiB/GiB/TiB for binary.' },
            model: { type: 'string', description: 'Shell glob on /sys/block/X/device/model.' },
            serial: { type: 'string', description: 'Shell glob on the disk serial.' },
            type: { enum: ['ssd', 'hdd'] },
          },
        },
        wipe: { type: 'boolean', default: false, description: 'Allow erasing a disk that already holds data.' },
      },
    },
    disks: {
      type: 'object',
      additionalProperties: false,
      properties: {
        os: { $ref: '#/$defs/diskSelector' },
        gv0: selectorList('Brick disks for gv0 (bricks_per_node of them).'),
        gv1: selectorList('Brick disks for gv1 (bricks_per_node of them).'),
        bmv0: selectorList('Disks for the local volume bmv0.'),
      },
    },
    volume: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        bricks_per_node: { type: 'integer', minimum: 1, maximum: 8 },
        brick_layout: { enum: ['lvm-thin', 'xfs'], default: 'lvm-thin' },
      },
    },
    node: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'address'],
      properties: {
        name: { type: 'string', pattern: HOSTNAME, maxLength: 63 },
        address: { type: 'string', pattern: `^(dhcp|${IPV4.slice(1, -1)}(/([89]|[12][0-9]|30))?)$`, description: 'a.b.c.d, a.b.c.d/nn, or dhcp.' },
        prefix: { type: 'integer', minimum: 8, maximum: 30 },
        gateway: { $ref: '#/$defs/ipv4' },
        dns: { type: 'array', items: { $ref: '#/$defs/ipv4' } },
        mac: { type: 'string', pattern: '^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$' },
        arbiter: { type: 'boolean', default: false, description: 'Holds arbiter (metadata) bricks only; for replica: 2.' },
        ring1_address: { $ref: '#/$defs/ipv4', description: 'Address on a second network: corosync\'s second ring (knet link 1).' },
        bmc: { $ref: '#/$defs/bmc', description: 'BMC for fence_ipmilan (fencing: ipmi).' },
        disks: { $ref: '#/$defs/disks' },
      },
    },
  },
} as const;

// The commented cluster.yaml that `personal-cloud init` writes: three PCs, replica 3, one
// replicated VM volume. Every optional key is shown (commented out) with its default.

export interface ExampleInputs {
  secret: string;
  /** crypt(3) hash of the admin's password. */
  passwordHash: string;
  /** The admin's SSH public keys; empty leaves a commented placeholder. */
  sshKeys: string[];
}

const yamlString = (s: string) => JSON.stringify(s);

export function exampleConfig({ secret, passwordHash, sshKeys }: ExampleInputs): string {
  const keys = sshKeys.length
    ? `    ssh_keys:\n${sshKeys.map((k) => `      - ${yamlString(k)}`).join('\n')}`
    : '    ssh_keys: []   # add your public key(s), e.g. the line in ~/.ssh/id_ed25519.pub';
  return `# personal-cloud cluster description. Check it with \`personal-cloud validate cluster.yaml\`,
# see what it will do with \`personal-cloud plan cluster.yaml\`.
# Editor completion: \`personal-cloud schema > cluster.schema.json\`, then add this line:
#   # yaml-language-server: $schema=cluster.schema.json
#
# This file holds the cluster secret: keep it private (it is written with mode 0600).

name: homelab              # cluster name: lower-case letters, digits, '-'
domain: lab.example.org    # DNS domain of the nodes (node1.lab.example.org, …)
release: trixie            # trixie (Debian 13, default) or bookworm (Debian 12)
replica: 3                 # 3, or 2 with one node marked \`arbiter: true\`

# The join token. Nodes only ever receive a key derived from it.
secret: ${secret}

timezone: UTC              # or Area/City, e.g. Europe/Berlin
locale: en_US.UTF-8
keyboard: us
# ntp: [0.debian.pool.ntp.org, 1.debian.pool.ntp.org]
# mirror:
#   url: http://deb.debian.org/debian
#   security_url: http://deb.debian.org/debian-security
#   proxy: http://192.168.50.2:3142     # e.g. apt-cacher-ng
# root:                                 # absent: root cannot log in (admin uses sudo)
#   password_hash: "$6$…"

users:
  - name: admin
    full_name: Cluster Administrator
    # A crypt hash, never the password: \`mkpasswd -m sha-512\` (package whois) or
    # \`openssl passwd -6\`. \`init\` generated this one from a random password it printed once.
    password_hash: ${yamlString(passwordHash)}
${keys}
    # groups: [sudo, libvirt, libvirt-qemu]

# Brick encryption: LUKS2 on every brick disk, unlocked at boot without a person when
# \`threshold\` of the pins answer (clevis); a box carried away alone keeps them locked. Uncomment
# before the first install (a brick is encrypted when its disk is first prepared); \`validate\`
# says what the policy protects against and warns on weak ones. Each brick also gets a recovery
# passphrase: \`personal-cloud recovery-key --config cluster.yaml --node N\` prints it.
# encryption:
#   peers: true            # every node runs tang; a brick is bound to the OTHER nodes' tang:
#                          # a box carried away alone stays locked, the cluster unlocks itself
#   tang: []               # external tang servers: [ { url: "http://192.168.50.2:7500", thp: "…" } ]
#                          # (thp: what \`tang-show-keys\` prints on the server)
#   tpm2: false            # one more share sealed to the node's TPM2 (PCR 7); alone it unlocks a stolen box
#   threshold: 1           # how many pins must answer

network:                   # defaults for every node (a node may override any of them)
  prefix: 24
  gateway: 192.168.50.1
  dns: [192.168.50.1]      # default: the gateway

disks:                     # defaults for every node; a node may override any role
  # Select disks by { id: /dev/disk/by-id/… } or by { match: { size, model, serial, type } };
  # never /dev/sdX, which can change between boots. Sizes are decimal as on the label:
  # ">=500G", "<=2T", "100G-200G". A disk that already holds data is never erased unless
  # its selector says \`wipe: true\`.
  os: { match: { size: "16G-200G" } }
  gv0: [ { match: { size: ">200G" } } ]
  # gv1: [ { match: { size: ">1T", type: hdd } }, { match: { size: ">1T", type: hdd } } ]

volumes:
  gv0: { enabled: true }                        # replicated VM disks, 1 brick per node
  gv1: { enabled: false, bricks_per_node: 2 }   # replicated backups and ISOs
  bmv0: { enabled: false }                      # local, bare-metal-speed VM disks
  # brick_layout: lvm-thin (default; thin LV on the disk) or xfs (XFS straight on the disk)

nodes:                     # 2–9 PCs; with replica 3 the count is a multiple of 3
  - name: node1
    address: 192.168.50.11     # a.b.c.d, a.b.c.d/nn or dhcp
    # mac: "52:54:00:50:00:11" # lets PXE pick this node's entry
  - name: node2
    address: 192.168.50.12
  - name: node3
    address: 192.168.50.13
    # disks:                   # per-node override, e.g. a specific disk:
    #   gv0: [ { id: /dev/disk/by-id/ata-Samsung_SSD_870_EVO_1TB_S6PUNX0R123456, wipe: true } ]
`;
}

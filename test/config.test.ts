// cluster.yaml → ClusterConfig → Plan. Golden fixtures: test/fixtures/config/valid/NAME.yaml must
// give NAME.plan.json exactly; invalid/NAME.yaml must give NAME.errors.txt exactly (every error).
// UPDATE_GOLDEN=1 rewrites the expected files (review the diff before committing it).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CONFIG_KEYS, formatIssue, validateConfigText } from '../src/config/validate.js';
import { loadConfig } from '../src/config/load.js';
import { clusterSchema } from '../src/config/schema.js';
import { parseSizeExpression } from '../src/config/size.js';
import { didYouMean } from '../src/config/did-you-mean.js';
import { sha512crypt, generatePassword, hashPassword } from '../src/config/crypt.js';
import { checkPasswordHash, checkSecret, checkSshKey } from '../src/config/formats.js';
import { exampleConfig } from '../src/config/example.js';
import { plan } from '../src/plan/plan.js';
import { generateSecret } from '../src/plan/keys.js';
import { EXIT, UserError } from '../core/errors.js';
import { validateCommand } from '../src/commands/validate.js';
import { schemaCommand } from '../src/commands/schema.js';
import { initCommand } from '../src/commands/init.js';
import { planCommand } from '../src/commands/plan.js';

const ROOT = join(import.meta.dirname, '..');
const FIXTURES = join(ROOT, 'test/fixtures/config');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const yamlFiles = (dir: string) => readdirSync(join(FIXTURES, dir)).filter((f) => f.endsWith('.yaml')).sort();

function golden(path: string, actual: string): void {
  if (UPDATE) writeFileSync(path, actual);
  expect(existsSync(path), `${path} missing: run with UPDATE_GOLDEN=1 and review it`).toBe(true);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}

describe('valid fixtures → plan (golden)', () => {
  const files = yamlFiles('valid');
  it('has the required cases', () => {
    expect(files.length).toBeGreaterThanOrEqual(6);
  });
  for (const file of files) {
    it(file, () => {
      const text = readFileSync(join(FIXTURES, 'valid', file), 'utf8');
      const r = validateConfigText(text, file);
      expect(r.errors.map((e) => formatIssue(e))).toEqual([]);
      const out = `${JSON.stringify(plan(r.config!), null, 2)}\n`;
      expect(out).not.toContain(r.config!.secret);
      golden(join(FIXTURES, 'valid', file.replace(/\.yaml$/, '.plan.json')), out);
      // warnings too, where a fixture is about one (NAME.warnings.txt)
      const warnings = join(FIXTURES, 'valid', file.replace(/\.yaml$/, '.warnings.txt'));
      if (existsSync(warnings) || (UPDATE && r.warnings.length)) golden(warnings, `${r.warnings.map((w) => formatIssue(w)).join('\n')}\n`);
    });
  }

  it('examples/cluster.yaml is valid', () => {
    const r = validateConfigText(readFileSync(join(ROOT, 'examples/cluster.yaml'), 'utf8'), 'examples/cluster.yaml');
    expect(r.errors).toEqual([]);
    expect(r.config!.nodes.map((n) => n.name)).toEqual(['node1', 'node2', 'node3']);
  });

  it('applies every default', () => {
    const r = validateConfigText(readFileSync(join(FIXTURES, 'valid/three-nodes.yaml'), 'utf8'), 'x');
    const c = r.config!;
    expect(c.release).toBe('trixie');
    expect(c.replica).toBe(3);
    expect([c.timezone, c.locale, c.keyboard]).toEqual(['UTC', 'en_US.UTF-8', 'us']);
    expect(c.ntp).toEqual(['0.debian.pool.ntp.org', '1.debian.pool.ntp.org']);
    expect(c.mirror).toEqual({ url: 'http://deb.debian.org/debian', securityUrl: 'http://deb.debian.org/debian-security' });
    expect(c.root).toEqual({});
    expect(c.encryption).toBeUndefined();
    expect(c.users[0]).toMatchObject({ fullName: 'admin', groups: ['sudo', 'libvirt', 'libvirt-qemu'] });
    expect(c.volumes).toEqual({
      gv0: { enabled: true, bricksPerNode: 1, brickLayout: 'lvm-thin' },
      gv1: { enabled: false, bricksPerNode: 2, brickLayout: 'lvm-thin' },
      bmv0: { enabled: false, bricksPerNode: 1, brickLayout: 'lvm-thin' },
    });
    expect(c.nodes[0]).toEqual({
      name: 'node1',
      network: { dhcp: false, address: '192.168.50.11', prefix: 24, gateway: '192.168.50.1', dns: ['192.168.50.1'] },
      arbiter: false,
      disks: {
        os: { match: { minBytes: 16e9, maxBytes: 200e9 }, wipe: false },
        gv0: [{ match: { minBytes: 200e9 + 1 }, wipe: false }],
        gv1: [],
        bmv0: [],
      },
    });
  });

  it('normalizes MACs and gives arbiters no brick disks', () => {
    const dhcp = validateConfigText(readFileSync(join(FIXTURES, 'valid/dhcp-nodes.yaml'), 'utf8'), 'x').config!;
    expect(dhcp.nodes.map((n) => n.mac)).toEqual(['aa:bb:cc:00:00:01', 'aa:bb:cc:00:00:02', undefined]);
    expect(dhcp.nodes[0].network).toEqual({ dhcp: true });
    const duo = validateConfigText(readFileSync(join(FIXTURES, 'valid/two-plus-arbiter.yaml'), 'utf8'), 'x');
    expect(duo.config!.nodes[2]).toMatchObject({ arbiter: true, disks: { gv0: [], gv1: [], bmv0: [] } });
    expect(duo.warnings.map((w) => w.path)).toEqual(['replica']);
  });

  it('ha.qdevice names a node by name, FQDN or address; that node is no corosync member', () => {
    const text = readFileSync(join(FIXTURES, 'valid/two-plus-qdevice.yaml'), 'utf8');
    for (const host of ['witness', 'witness.home.arpa', '10.1.0.23']) {
      const r = validateConfigText(text.replace('qdevice: witness', `qdevice: ${host}`), 'x');
      expect(r.errors).toEqual([]);
      expect(r.config!.ha!.qdevice).toEqual({ host, node: 'witness' });
      // 2 members + the device: no odd-count warning, no manual-certificates warning
      expect(r.warnings.map((w) => w.path)).toEqual(['replica']);
    }
    // a data node as the quorum device: allowed, with a warning (it runs no VMs then)
    const data = validateConfigText(text.replace('qdevice: witness', 'qdevice: beta'), 'x');
    expect(data.errors.map((e) => e.message)).toEqual(['fencing: ipmi needs a bmc: { address, user, password } on every node']);
    const sbd = validateConfigText(text.replace('qdevice: witness', 'qdevice: beta').replace('fencing: ipmi', 'fencing: sbd'), 'x');
    expect(sbd.errors).toEqual([]);
    expect(sbd.warnings.map((w) => w.message).join('\n')).toMatch(/beta holds data bricks but, running the quorum device, it is no cluster member/);
    // the same cluster without a quorum device: the arbiter is the third corosync member
    const three = validateConfigText(text.replace(/\n {2}qdevice: witness/, '').replace('fencing: ipmi', 'fencing: sbd'), 'x');
    expect(three.errors).toEqual([]);
    expect(three.config!.ha!.qdevice).toBeUndefined();
    // an outside host with 3 members: an odd count, and its certificates are set up by hand
    const outside = validateConfigText(text.replace('qdevice: witness', 'qdevice: qnetd.home.arpa').replace('fencing: ipmi', 'fencing: sbd'), 'x');
    expect(outside.warnings.filter((w) => w.path === 'ha.qdevice').map((w) => w.message)).toEqual([
      "'qnetd.home.arpa' is not a node of this cluster: install corosync-qnetd there and exchange the certificates by hand (corosync-qdevice-net-certutil, see the README) before the nodes boot; naming a node of the cluster (the arbiter) lets the agents do both",
      'with 3 cluster members (an odd count) a quorum device adds nothing; it is for 2 (or another even count of) members',
    ]);
  });
});

describe('invalid fixtures → every error (golden)', () => {
  const files = yamlFiles('invalid');
  const counts: Record<string, number> = {};
  it('has the required cases', () => {
    expect(files.length).toBeGreaterThanOrEqual(25);
  });
  for (const file of files) {
    it(file, () => {
      const text = readFileSync(join(FIXTURES, 'invalid', file), 'utf8');
      const r = validateConfigText(text, file);
      expect(r.config).toBeUndefined();
      expect(r.errors.length).toBeGreaterThan(0);
      counts[file] = r.errors.length;
      for (const e of r.errors) {
        expect(e.line).toBeGreaterThan(0);
        expect(e.column).toBeGreaterThan(0);
      }
      golden(join(FIXTURES, 'invalid', file.replace(/\.yaml$/, '.errors.txt')), `${r.errors.map((e) => formatIssue(e)).join('\n')}\n`);
      // warnings too, where a fixture is about one (NAME.warnings.txt)
      const warnings = join(FIXTURES, 'invalid', file.replace(/\.yaml$/, '.warnings.txt'));
      if (existsSync(warnings)) golden(warnings, `${r.warnings.map((w) => formatIssue(w, 'warning')).join('\n')}\n`);
    });
  }
  it('reports all errors, not just the first', () => {
    expect(Object.values(counts).filter((n) => n >= 3).length).toBeGreaterThanOrEqual(8);
  });
});

describe('secrets and passwords never appear in messages', () => {
  it('does not echo a plaintext password or a weak secret', () => {
    for (const file of ['plaintext-password.yaml', 'short-secret.yaml', 'weak-secret.yaml']) {
      const errors = readFileSync(join(FIXTURES, 'invalid', file.replace('.yaml', '.errors.txt')), 'utf8');
      for (const word of ['hunter2', 'S3cret!pass', 'aaaaaaaaaa']) expect(errors).not.toContain(word);
    }
  });
  it('does not echo a secret given as a number', () => {
    const r = validateConfigText('secret: 98765432109876543210987654321098765\n', 'x.yaml');
    expect(r.errors.map((e) => formatIssue(e)).join('\n')).not.toContain('98765432109876543210');
  });
});

describe('value checks', () => {
  it('parses size expressions in decimal units, binary with i', () => {
    expect(parseSizeExpression('>=500G')).toEqual({ minBytes: 500e9 });
    expect(parseSizeExpression('>200G')).toEqual({ minBytes: 200e9 + 1 });
    expect(parseSizeExpression('<=2T')).toEqual({ maxBytes: 2e12 });
    expect(parseSizeExpression('<1T')).toEqual({ maxBytes: 1e12 - 1 });
    expect(parseSizeExpression('100G-200G')).toEqual({ minBytes: 100e9, maxBytes: 200e9 });
    expect(parseSizeExpression('1.5TB-2TiB')).toEqual({ minBytes: 1.5e12, maxBytes: 2 * 2 ** 40 });
    expect(parseSizeExpression('>= 64 GiB')).toEqual({ minBytes: 64 * 2 ** 30 });
    for (const bad of ['500G', '>=500X', '200G-100G', 'big', '<0', '', '1-2-3']) expect(typeof parseSizeExpression(bad)).toBe('string');
  });

  it('suggests near keys only', () => {
    expect(didYouMean('adress', ['name', 'address'])).toBe('address');
    expect(didYouMean('bricksPerNode', ['enabled', 'bricks_per_node'])).toBe('bricks_per_node');
    expect(didYouMean('brick-layout', ['brick_layout'])).toBe('brick_layout');
    expect(didYouMean('colour', ['name', 'address'])).toBeUndefined();
  });

  it('sha512crypt matches the specification and openssl', () => {
    expect(sha512crypt('Hello world!', 'saltstring')).toBe('$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1');
    for (const pw of ['x', generatePassword(), 'pässwörd with spaces', 'y'.repeat(80)]) {
      const expected = execFileSync('openssl', ['passwd', '-6', '-salt', 'Sa1t./xyz', '-stdin'], { input: pw }).toString().trim();
      expect(sha512crypt(pw, 'Sa1t./xyz')).toBe(expected);
    }
    const h = hashPassword('pw');
    expect(checkPasswordHash(h)).toBeUndefined();
    expect(hashPassword('pw')).not.toBe(h);
  });

  it('checks crypt hashes, SSH keys and secrets', () => {
    expect(checkPasswordHash(execFileSync('openssl', ['passwd', '-5', '-salt', 'abc', 'pw']).toString().trim())).toBeUndefined();
    expect(checkPasswordHash('$y$j9T$PaQTcgdtgcpMIO5IMm6RK.$p6xSxPvwe8kqqFFMAPvz3h9q3S4T6zBKlBm7Xx5zbj0')).toBeUndefined();
    expect(checkPasswordHash('$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW')).toBeUndefined();
    expect(checkPasswordHash('letmein')).toMatch(/plaintext.*mkpasswd -m sha-512.*openssl passwd -6/);
    const dir = mkdtempSync(join(tmpdir(), 'pc-key-'));
    try {
      for (const type of ['ed25519', 'ecdsa', 'rsa']) {
        execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `me@${type}`, '-f', join(dir, type)]);
        expect(checkSshKey(readFileSync(join(dir, `${type}.pub`), 'utf8').trim())).toBeUndefined();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (let i = 0; i < 20; i++) expect(checkSecret(generateSecret())).toBeUndefined();
    expect(checkSecret('0123456789abcdef0123456789abcdef')).toMatch(/weak/);
  });
});

type JsonSchema = { type?: string; properties?: Record<string, JsonSchema>; items?: JsonSchema; $ref?: string; required?: string[]; enum?: unknown[]; additionalProperties?: boolean; minItems?: number; maxItems?: number; pattern?: string; anyOf?: JsonSchema[] };
const schema = clusterSchema as unknown as JsonSchema & { $defs: Record<string, JsonSchema> };
const resolve = (s: JsonSchema): JsonSchema => (s.$ref ? resolve(schema.$defs[s.$ref.replace('#/$defs/', '')]) : s);

/** The subset of JSON Schema that clusterSchema uses: enough to check fixtures against it. */
function schemaErrors(value: unknown, s: JsonSchema, path = ''): string[] {
  s = resolve(s);
  if (s.anyOf) return s.anyOf.some((a) => schemaErrors(value, a, path).length === 0) ? [] : [`${path}: matches none of anyOf`];
  if (s.enum && !s.enum.includes(value)) return [`${path}: not in enum`];
  if (s.type === 'object') {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: not an object`];
    const out: string[] = [];
    for (const k of s.required ?? []) if (!(k in value)) out.push(`${path}.${k}: required`);
    for (const [k, v] of Object.entries(value)) {
      if (!s.properties?.[k]) out.push(`${path}.${k}: not in schema`);
      else out.push(...schemaErrors(v, s.properties[k], `${path}.${k}`));
    }
    return out;
  }
  if (s.type === 'array') {
    if (!Array.isArray(value)) return [`${path}: not an array`];
    return value.flatMap((v, i) => schemaErrors(v, s.items!, `${path}[${i}]`));
  }
  if (s.type === 'string' && (typeof value !== 'string' || (s.pattern && !new RegExp(s.pattern).test(value)))) return [`${path}: bad string`];
  if (s.type === 'integer' && !Number.isInteger(value)) return [`${path}: not an integer`];
  if (s.type === 'boolean' && typeof value !== 'boolean') return [`${path}: not a boolean`];
  return [];
}

describe('JSON Schema', () => {
  const keysAt = (s: JsonSchema) => Object.keys(resolve(s).properties ?? {}).sort();
  it('lists exactly the keys the validator accepts', () => {
    const p = schema.properties!;
    const d = schema.$defs;
    const places: [readonly string[], JsonSchema][] = [
      [CONFIG_KEYS.top, schema], [CONFIG_KEYS.mirror, p.mirror], [CONFIG_KEYS.root, p.root], [CONFIG_KEYS.user, p.users.items!],
      [CONFIG_KEYS.encryption, p.encryption], [CONFIG_KEYS.tangServer, p.encryption.properties!.tang.items!.anyOf![1]], [CONFIG_KEYS.network, p.network], [CONFIG_KEYS.disks, p.disks], [CONFIG_KEYS.volumes, p.volumes],
      [CONFIG_KEYS.volume, d.volume], [CONFIG_KEYS.node, p.nodes.items!], [CONFIG_KEYS.disks, d.node.properties!.disks],
      [CONFIG_KEYS.selector, d.diskSelector], [CONFIG_KEYS.match, d.diskSelector.properties!.match],
      [CONFIG_KEYS.backup, p.backup], [CONFIG_KEYS.retention, p.backup.properties!.retention],
    ];
    for (const [keys, at] of places) expect(keysAt(at)).toEqual([...keys].sort());
    for (const v of CONFIG_KEYS.volumes) expect(keysAt(p.volumes.properties![v])).toEqual([...CONFIG_KEYS.volume].sort());
  });

  it('every object in it is closed (additionalProperties: false), like the validator', () => {
    const walk = (s: JsonSchema, path: string): void => {
      if (s.type === 'object') expect(s.additionalProperties, path).toBe(false);
      for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${path}.${k}`);
      if (s.items) walk(s.items, `${path}[]`);
      s.anyOf?.forEach((a, i) => walk(a, `${path}|${i}`));
    };
    walk(schema, '');
    for (const [k, v] of Object.entries(schema.$defs)) walk(v, `$defs.${k}`);
  });

  it('accepts every valid fixture and the example', () => {
    const docs = yamlFiles('valid').map((f) => [f, readFileSync(join(FIXTURES, 'valid', f), 'utf8')]);
    docs.push(['examples/cluster.yaml', readFileSync(join(ROOT, 'examples/cluster.yaml'), 'utf8')]);
    docs.push(['init', exampleConfig({ secret: generateSecret(), passwordHash: hashPassword('x'), sshKeys: [] })]);
    for (const [name, text] of docs) expect(schemaErrors(parseYaml(text), schema), name).toEqual([]);
  });

  it('rejects unknown keys and wrong types the validator rejects', () => {
    const bad = parseYaml(readFileSync(join(FIXTURES, 'invalid/unknown-keys.yaml'), 'utf8'));
    expect(schemaErrors(bad, schema).filter((e) => e.includes('not in schema')).length).toBe(6);
    expect(schemaErrors(parseYaml(readFileSync(join(FIXTURES, 'invalid/wrong-types.yaml'), 'utf8')), schema).length).toBeGreaterThan(3);
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'pc-load-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const rejection = async (path: string) => {
    const e = await loadConfig(path).then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).exitCode).toBe(EXIT.invalidConfig);
    return (e as UserError).message;
  };

  it('returns the config and warnings of a valid file', async () => {
    const { config, warnings } = await loadConfig(join(FIXTURES, 'valid/two-plus-arbiter.yaml'));
    expect(config.replica).toBe(2);
    expect(warnings).toHaveLength(1);
  });
  it('throws one UserError listing every error with a count', async () => {
    const file = join(FIXTURES, 'invalid/bad-hostnames.yaml');
    const message = await rejection(file);
    expect(message.split('\n')[0]).toBe(`${file} is not valid (6 errors):`);
    expect(message.split('\n')).toHaveLength(7);
  });
  it('says clearly when the file is missing, a directory or binary', async () => {
    expect(await rejection(join(dir, 'nope.yaml'))).toMatch(/cannot read .*nope\.yaml: no such file \(create one with `personal-cloud init`\)/);
    expect(await rejection(dir)).toMatch(/is a directory/);
    writeFileSync(join(dir, 'bin.yaml'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]));
    expect(await rejection(join(dir, 'bin.yaml'))).toMatch(/binary file/);
  });
});

/** Runs a command in-process, capturing what it writes. */
async function runCommand(cmd: { run(argv: string[]): Promise<number> }, argv: string[]) {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { stdout += String(s); return true; });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => { stderr += String(s); return true; });
  try {
    let code: number;
    try {
      code = await cmd.run(argv);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      stderr += `personal-cloud: ${e.message}\n`;
      code = e.exitCode;
    }
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('commands', () => {
  let dir: string;
  const home = process.env.HOME;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'pc-cmd-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => { process.env.HOME = home; });

  it('validate: exit 0 and a summary for a valid file', async () => {
    const r = await runCommand(validateCommand, [join(FIXTURES, 'valid/six-nodes-gv1.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${join(FIXTURES, 'valid/six-nodes-gv1.yaml')}: valid (6 nodes, replica 3, Debian trixie, volumes gv0, gv1, bmv0)\n`);
  });
  it('validate: exit 3 and every error on stderr', async () => {
    const file = join(FIXTURES, 'invalid/duplicate-nodes.yaml');
    const r = await runCommand(validateCommand, [file]);
    expect(r.code).toBe(EXIT.invalidConfig);
    expect(r.stderr.trim().split('\n')).toHaveLength(4);
    expect(r.stderr).toContain(`${file}:17:13: nodes[4].name: duplicate node name 'node2' (first at line 14)`);
    expect(r.stderr).toMatch(/3 errors\n$/);
  });
  it('validate --json', async () => {
    const bad = await runCommand(validateCommand, ['--json', join(FIXTURES, 'invalid/bad-mac.yaml')]);
    expect(bad.code).toBe(3);
    const j = JSON.parse(bad.stdout);
    expect(j.valid).toBe(false);
    expect(j.errors).toHaveLength(3);
    expect(Object.keys(j.errors[0]).sort()).toEqual(['column', 'file', 'line', 'message', 'path']);
    expect(j.errors[0]).toMatchObject({ line: 13, column: 49, path: 'nodes[0].mac' });
    const good = await runCommand(validateCommand, ['--json', join(FIXTURES, 'valid/two-plus-arbiter.yaml')]);
    expect(good.code).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({ valid: true, errors: [], warnings: [{ path: 'replica' }] });
    const missing = await runCommand(validateCommand, ['--json', join(dir, 'missing.yaml')]);
    expect(missing.code).toBe(3);
    expect(JSON.parse(missing.stdout).errors[0].message).toMatch(/no such file/);
  });
  it('validate: usage errors exit 2', async () => {
    expect((await runCommand(validateCommand, ['--bogus'])).code).toBe(EXIT.usage);
  });

  it('schema prints a draft 2020-12 schema', async () => {
    const r = await runCommand(schemaCommand, []);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).$schema).toBe('https://json-schema.org/draft/2020-12/schema');
  });

  it('init writes a valid 0600 file with a fresh secret and refuses to overwrite', async () => {
    const fakeHome = join(dir, 'home');
    mkdirSync(join(fakeHome, '.ssh'), { recursive: true });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'me@test', '-f', join(fakeHome, '.ssh/id_ed25519')]);
    process.env.HOME = fakeHome;
    const a = join(dir, 'a.yaml');
    const b = join(dir, 'sub/b.yaml');
    const r1 = await runCommand(initCommand, ['--out', a]);
    expect(r1.code).toBe(0);
    const r2 = await runCommand(initCommand, ['--out', b]);
    expect(r2.code).toBe(0);
    for (const f of [a, b]) expect(statSync(f).mode & 0o777).toBe(0o600);
    const ca = validateConfigText(readFileSync(a, 'utf8'), a);
    const cb = validateConfigText(readFileSync(b, 'utf8'), b);
    expect(ca.errors).toEqual([]);
    expect(cb.errors).toEqual([]);
    expect(ca.warnings).toEqual([]);
    expect(ca.config!.secret).toMatch(/^pcs1_[A-Za-z0-9_-]{43}$/);
    expect(ca.config!.secret).not.toBe(cb.config!.secret);
    expect(ca.config!.users[0].sshKeys).toEqual([readFileSync(join(fakeHome, '.ssh/id_ed25519.pub'), 'utf8').trim()]);
    // The printed password is the one hashed into the file.
    const password = /admin password: (\S+)/.exec(r1.stderr)![1];
    const hash = ca.config!.users[0].passwordHash;
    expect(sha512crypt(password, hash.split('$')[2])).toBe(hash);
    expect(readFileSync(a, 'utf8')).not.toContain(password);

    const before = readFileSync(a, 'utf8');
    const again = await runCommand(initCommand, ['--out', a]);
    expect(again.code).toBe(EXIT.refused);
    expect(again.stderr).toMatch(/already exists.*--force/);
    expect(readFileSync(a, 'utf8')).toBe(before);
    expect((await runCommand(initCommand, ['--out', a, '--force'])).code).toBe(0);
    expect(readFileSync(a, 'utf8')).not.toBe(before);
  });

  it('plan: JSON plan without the secret, one node, human summary', async () => {
    const file = join(FIXTURES, 'valid/two-plus-arbiter.yaml');
    const j = await runCommand(planCommand, [file, '--json']);
    expect(j.code).toBe(0);
    expect(j.stdout).toBe(readFileSync(file.replace('.yaml', '.plan.json'), 'utf8'));
    expect(j.stdout).not.toContain('pcs1_');
    const one = await runCommand(planCommand, [file, '--json', '--node', 'witness']);
    expect(JSON.parse(one.stdout)).toMatchObject({ name: 'witness', arbiter: true });
    const human = await runCommand(planCommand, [file]);
    expect(human.stdout).toContain('cluster duo (home.arpa): Debian 13 trixie, replica 2, 3 nodes');
    expect(human.stdout).toMatch(/gv1 {2}replica 3 arbiter 1, 2 replica set\(s\)/);
    expect(human.stdout).toContain('set 1: alpha:/data/glusterfs/gv0/brick1/brick  beta:/data/glusterfs/gv0/brick1/brick  witness:/data/glusterfs/gv0/brick1/brick (arbiter)');
    expect(human.stdout).not.toContain('pcs1_');
    const unknown = await runCommand(planCommand, [file, '--node', 'gamma']);
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.stderr).toMatch(/no node named 'gamma'.*alpha, beta, witness/);
    const invalid = await runCommand(planCommand, [join(FIXTURES, 'invalid/bad-sizes.yaml')]);
    expect(invalid.code).toBe(EXIT.invalidConfig);
    expect(invalid.stderr).toMatch(/is not valid \(5 errors\)/);
  });
});

describe('built CLI', () => {
  const cli = (args: string[], cwd = ROOT) => spawnSync(process.execPath, [join(ROOT, 'bin/personal-cloud.js'), ...args], { cwd, encoding: 'utf8' });
  let dir: string;
  beforeAll(() => {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT });
    dir = mkdtempSync(join(tmpdir(), 'pc-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('validate exit codes', () => {
    expect(cli(['validate', 'examples/cluster.yaml']).status).toBe(0);
    const bad = cli(['validate', join(FIXTURES, 'invalid/brick-counts.yaml')]);
    expect(bad.status).toBe(3);
    expect(bad.stderr).toContain('too many brick selectors');
  });
  it('never prints a stack trace on garbage input', () => {
    const inputs: [string, string | Buffer][] = [
      ['garbage.yaml', '{{{{ ]]]: :: - - "unterminated'],
      ['binary.yaml', Buffer.from([0, 159, 146, 150, 0, 255])],
      ['scalar.yaml', '42\n'],
      ['deep.yaml', `${'['.repeat(5000)}${']'.repeat(5000)}\n`],
      ['alias-bomb.yaml', 'a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nnodes: [*c, *c]\n'],
      ['tabs.yaml', 'name:\thomelab\n\tdomain: x\n'],
    ];
    for (const [name, content] of inputs) {
      writeFileSync(join(dir, name), content);
      for (const cmd of ['validate', 'plan']) {
        const r = cli([cmd, join(dir, name)]);
        expect(r.status, `${cmd} ${name}: ${r.stderr}`).toBe(3);
        expect(r.stderr).not.toMatch(/\n\s+at |internal error/);
      }
    }
    const none = cli(['plan', join(dir, 'does-not-exist.yaml')]);
    expect(none.status).toBe(3);
    expect(none.stderr).toBe(`personal-cloud: cannot read ${join(dir, 'does-not-exist.yaml')}: no such file (create one with \`personal-cloud init\`)\n`);
  });
  it('init then validate in a fresh directory', () => {
    expect(cli(['init'], dir).status).toBe(0);
    expect(cli(['validate'], dir).stdout).toBe('cluster.yaml: valid (3 nodes, replica 3, Debian trixie, volumes gv0)\n');
    expect(cli(['init'], dir).status).toBe(EXIT.refused);
    expect(JSON.parse(cli(['schema']).stdout).type).toBe('object');
  });
});

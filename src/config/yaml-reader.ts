// A small typed reader over the `yaml` AST that records every problem with its line and column
// instead of stopping at the first one.
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Scalar } from 'yaml';
import { didYouMean } from './did-you-mean.js';

export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  /** Dotted field path, e.g. nodes[1].address; empty for YAML syntax problems. */
  path: string;
  message: string;
}

export function formatIssue(i: ConfigIssue, kind: 'error' | 'warning' = 'error'): string {
  const where = `${i.file}:${i.line}:${i.column}:`;
  const label = kind === 'warning' ? ' warning:' : '';
  return i.path ? `${where}${label} ${i.path}: ${i.message}` : `${where}${label} ${i.message}`;
}

export const join = (path: string, key: string | number) =>
  typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;

export interface Entry {
  key: Scalar;
  /** Undefined when the key has no value (`key:`), which counts as absent. */
  value?: Node;
}

export type Where = Node | number | undefined;

export class Reader {
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];
  /** Paths an unknown key was taken to mean: no second "missing" error for them. */
  private readonly suggested = new Set<string>();

  constructor(readonly file: string, private readonly lc: LineCounter, private readonly doc: Document) {}

  position(where: Where): { line: number; column: number } {
    const offset = typeof where === 'number' ? where : where?.range?.[0] ?? 0;
    const { line, col } = this.lc.linePos(offset);
    return { line, column: col };
  }

  line(where: Where): number {
    return this.position(where).line;
  }

  error(where: Where, path: string, message: string): undefined {
    this.errors.push({ file: this.file, ...this.position(where), path, message });
    return undefined;
  }

  warn(where: Where, path: string, message: string): void {
    this.warnings.push({ file: this.file, ...this.position(where), path, message });
  }

  deref(node: unknown): Node | undefined {
    if (isAlias(node)) return this.deref(node.resolve(this.doc));
    if (node === null || node === undefined) return undefined;
    if (isScalar(node) && node.value === null) return undefined;
    return node as Node;
  }

  /**
   * The entries of a mapping; unknown keys are reported with a "did you mean" hint (from typo
   * distance, or `elsewhere`: a hint for keys known under another name or at another level),
   * duplicates with the first line.
   */
  map(node: Node, path: string, allowed: readonly string[], elsewhere: Record<string, string> = {}): Map<string, Entry> | undefined {
    if (!isMap(node)) return this.error(node, path, `must be a mapping of keys (allowed: ${allowed.join(', ')}), got ${describe(node)}`);
    const out = new Map<string, Entry>();
    for (const pair of node.items) {
      const key = pair.key as Node;
      if (!isScalar(key) || (typeof key.value !== 'string' && typeof key.value !== 'number' && typeof key.value !== 'boolean')) {
        this.error(key ?? node, path, `keys must be plain words (allowed: ${allowed.join(', ')})`);
        continue;
      }
      const name = String(key.value);
      const where = join(path, name);
      if (!allowed.includes(name)) {
        const guess = elsewhere[name] ? undefined : didYouMean(name, allowed);
        if (guess) this.suggested.add(join(path, guess));
        const hint = elsewhere[name] ? `; ${elsewhere[name]}` : guess ? `; did you mean '${guess}'?` : '';
        this.error(key, where, `unknown key${hint} (allowed here: ${allowed.join(', ')})`);
        continue;
      }
      const first = out.get(name);
      if (first) {
        this.error(key, where, `duplicate key (first given at line ${this.line(first.key)}); give each key once`);
        continue;
      }
      out.set(name, { key, value: this.deref(pair.value) });
    }
    return out;
  }

  /** Required value, or `missing` error pointing at the parent mapping. */
  required(entries: Map<string, Entry>, parent: Where, path: string, key: string, allowed: string): Node | undefined {
    const value = entries.get(key)?.value;
    if (value === undefined && this.suggested.has(join(path, key))) return undefined;
    if (value === undefined) return this.error(entries.get(key)?.key ?? parent, join(path, key), `missing (required: ${allowed})`);
    return value;
  }

  /** `sensitive` values (secrets, passwords) are never echoed in a message. */
  string(node: Node, path: string, allowed = 'a string', sensitive = false): string | undefined {
    if (isScalar(node) && typeof node.value === 'string') return node.value;
    if (isScalar(node) && (typeof node.value === 'number' || typeof node.value === 'boolean')) {
      const got = sensitive ? `a ${typeof node.value}` : `${typeof node.value} ${node.source ?? String(node.value)}`;
      return this.error(node, path, `must be text, got ${got} (allowed: ${allowed}; quote it to make it text)`);
    }
    return this.error(node, path, `must be text, got ${describe(node)} (allowed: ${allowed})`);
  }

  integer(node: Node, path: string, min: number, max: number, allowed = `a whole number from ${min} to ${max}`): number | undefined {
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isInteger(node.value)) {
      return this.error(node, path, `must be a whole number, got ${describe(node)} (allowed: ${allowed})`);
    }
    if (node.value < min || node.value > max) return this.error(node, path, `${node.value} is out of range (allowed: ${allowed})`);
    return node.value;
  }

  boolean(node: Node, path: string): boolean | undefined {
    if (isScalar(node) && typeof node.value === 'boolean') return node.value;
    const yes = isScalar(node) && typeof node.value === 'string' && /^(yes|no|on|off|y|n)$/i.test(node.value);
    return this.error(node, path, `must be true or false, got ${describe(node)}${yes ? ' (YAML 1.2 reads yes/no/on/off as text)' : ''}`);
  }

  oneOf<T extends string>(node: Node, path: string, choices: readonly T[]): T | undefined {
    const v = this.string(node, path, choices.join(' | '));
    if (v === undefined) return undefined;
    if (!(choices as readonly string[]).includes(v)) {
      const guess = didYouMean(v, choices);
      return this.error(node, path, `'${v}' is not allowed${guess ? `; did you mean '${guess}'?` : ''} (allowed: ${choices.join(', ')})`);
    }
    return v as T;
  }

  list(node: Node, path: string, allowed: string): Node[] | undefined {
    if (!isSeq(node)) return this.error(node, path, `must be a list, got ${describe(node)} (allowed: ${allowed})`);
    return node.items.map((item) => this.deref(item) ?? (item as Node));
  }

  /** A list of strings, each checked by `check` (which returns an error message or undefined). */
  stringList(node: Node, path: string, allowed: string, check: (v: string) => string | undefined): string[] | undefined {
    const items = this.list(node, path, allowed);
    if (!items) return undefined;
    let ok = true;
    const out: string[] = [];
    items.forEach((item, i) => {
      const v = this.string(item, join(path, i), allowed);
      const bad = v === undefined ? 'x' : check(v);
      if (v === undefined) ok = false;
      else if (bad) { ok = false; this.error(item, join(path, i), bad); } else out.push(v);
    });
    return ok ? out : undefined;
  }
}

export function describe(node: Node | undefined): string {
  if (node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    if (node.value === null) return 'nothing';
    if (typeof node.value === 'string') return `text '${node.value.length > 40 ? `${node.value.slice(0, 40)}…` : node.value}'`;
    return `${typeof node.value} ${node.source ?? String(node.value)}`;
  }
  return 'an unsupported value';
}

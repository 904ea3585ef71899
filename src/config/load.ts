import { readFile, stat } from 'node:fs/promises';
import { EXIT, UserError } from '../../core/errors.js';
import type { ClusterConfig } from '../../core/config-types.js';
import { formatIssue, validateConfigText, type ConfigIssue } from './validate.js';

/** A cluster description is a few KiB; anything far larger is the wrong file (an ISO, a log). */
const MAX_CONFIG_BYTES = 1024 * 1024;

/** Reads a config file as text, or throws a UserError that says why it cannot. */
export async function readConfigText(path: string): Promise<string> {
  let data: Buffer;
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new UserError(`${path} is a directory, not a cluster description (expected a file such as cluster.yaml)`, EXIT.invalidConfig);
    if (st.size > MAX_CONFIG_BYTES) throw new UserError(`${path} is ${st.size} bytes: too large to be a cluster description (is it the right file?)`, EXIT.invalidConfig);
    data = await readFile(path);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file (create one with `personal-cloud init`)'
      : code === 'EACCES' ? 'permission denied'
        : (e as Error).message;
    throw new UserError(`cannot read ${path}: ${why}`, EXIT.invalidConfig);
  }
  if (data.includes(0)) throw new UserError(`${path} is a binary file, not a YAML cluster description`, EXIT.invalidConfig);
  const text = data.toString('utf8');
  if (text.includes('\uFFFD')) throw new UserError(`${path} is not UTF-8 text`, EXIT.invalidConfig);
  return text;
}

export function invalidConfigError(file: string, errors: ConfigIssue[]): UserError {
  const count = `${errors.length} error${errors.length === 1 ? '' : 's'}`;
  return new UserError(`${file} is not valid (${count}):\n${errors.map((e) => formatIssue(e)).join('\n')}`, EXIT.invalidConfig);
}

/** Loads and validates cluster.yaml; throws a UserError (exit 3) listing every error. */
export async function loadConfig(path: string): Promise<{ config: ClusterConfig; warnings: ConfigIssue[] }> {
  const result = validateConfigText(await readConfigText(path), path);
  if (!result.config) throw invalidConfigError(path, result.errors);
  return { config: result.config, warnings: result.warnings };
}

// The builder's version, as package.json states it: manifests name the tool that made an image.
import { readFileSync } from 'node:fs';
import { projectPath } from './paths.js';

export const TOOL_VERSION: string = (JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as { version: string }).version;

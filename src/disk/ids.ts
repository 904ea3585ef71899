// Identities of a node's disk (GPT GUIDs, filesystem UUIDs), derived from the cluster's key id
// and the node name: the same inputs give the same ids, different nodes and clusters differ.
import { sha256 } from '../util/hash.js';
import type { DiskIds } from './node-files.js';

export function derivedUuid(...parts: string[]): string {
  const h = sha256(`personal-cloud/disk/v1/${parts.join('/')}`);
  // RFC 4122 variant, version 4 layout (random-looking, but derived)
  const v = `4${h.slice(13, 16)}`;
  const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16) + h.slice(17, 20);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${v}-${variant}-${h.slice(20, 32)}`;
}

export interface DiskIdentity extends DiskIds {
  diskGuid: string;
  partGuids: [string, string, string];
}

export function diskIdentity(keyId: string, node: string): DiskIdentity {
  const vol = sha256(`personal-cloud/disk/v1/${keyId}/${node}/esp`).slice(0, 8).toUpperCase();
  return {
    diskGuid: derivedUuid(keyId, node, 'disk'),
    partGuids: [derivedUuid(keyId, node, 'p1'), derivedUuid(keyId, node, 'p2'), derivedUuid(keyId, node, 'p3')],
    rootUuid: derivedUuid(keyId, node, 'root'),
    espVolumeId: `${vol.slice(0, 4)}-${vol.slice(4)}`,
  };
}

import { createHash, randomBytes } from 'node:crypto';

// SHA-512 crypt ("$6$", Ulrich Drepper's specification), so `init` can give the admin a
// random password without calling out to mkpasswd/openssl. Checked against `openssl passwd -6`.

const ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ORDER = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48], [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10],
  [53, 11, 32], [12, 33, 54], [34, 55, 13], [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
];

const sha512 = (...parts: Buffer[]) => { const h = createHash('sha512'); for (const p of parts) h.update(p); return h.digest(); };

function repeatTo(src: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = src[i % src.length];
  return out;
}

export function sha512crypt(password: string, salt: string): string {
  const p = Buffer.from(password, 'utf8');
  const s = Buffer.from(salt.slice(0, 16), 'utf8');
  const b = sha512(p, s, p);
  const a = createHash('sha512').update(p).update(s).update(repeatTo(b, p.length));
  for (let n = p.length; n > 0; n >>= 1) a.update(n & 1 ? b : p);
  let c = a.digest();
  const pBytes = repeatTo(sha512(...Array(p.length).fill(p)), p.length);
  const sBytes = repeatTo(sha512(...Array(16 + c[0]).fill(s)), s.length);
  for (let i = 0; i < 5000; i++) {
    const h = createHash('sha512');
    h.update(i & 1 ? pBytes : c);
    if (i % 3) h.update(sBytes);
    if (i % 7) h.update(pBytes);
    h.update(i & 1 ? c : pBytes);
    c = h.digest();
  }
  let out = '';
  const put = (w: number, n: number) => { for (let i = 0; i < n; i++, w >>= 6) out += ALPHABET[w & 63]; };
  for (const [x, y, z] of ORDER) put((c[x] << 16) | (c[y] << 8) | c[z], 4);
  put(c[63], 2);
  return `$6$${s.toString('utf8')}$${out}`;
}

function randomFrom(alphabet: string, length: number): string {
  // 256 is a multiple of neither alphabet size, so reject bytes past the last full cycle.
  const limit = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < length) for (const byte of randomBytes(length * 2)) if (byte < limit && out.length < length) out += alphabet[byte % alphabet.length];
  return out;
}

/** A random password that is easy to type from a printout: no look-alike characters. */
export function generatePassword(): string {
  const chars = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  return [0, 1, 2, 3].map(() => randomFrom(chars, 5)).join('-');
}

export function hashPassword(password: string): string {
  return sha512crypt(password, randomFrom(ALPHABET, 16));
}

// What the field suites and the field benchmark share: how Chromium is started, and the
// records they make up (China-time instants, valid GB 11643 ID numbers).

/** Debian's Chromium, or `$CHROMIUM`. */
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/**
 * Flags for headless Chromium on a machine with a closed network: no sandbox (root in CI),
 * and none of the background connections it would otherwise keep trying.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A random integer in [0, n). */
export const rand = (n) => Math.floor(Math.random() * n);

/** An instant `agoMs` before now as RFC 3339 with +08:00 (China time). */
export function cst(agoMs = 60_000) {
  const d = new Date(Date.now() - agoMs + 8 * 3600 * 1000);
  return `${d.toISOString().slice(0, 19)}+08:00`;
}

/**
 * A valid GB 11643 ID number with area code 11xxxx (never a demo resident's), a random
 * birth date in 1940–1990 and the sex digit matching `sex`.
 * @param {'M'|'F'} sex
 * @returns {{ id_number: string, birth_date: string }}
 */
export function idNumber(sex) {
  const y = 1940 + rand(50);
  const m = 1 + rand(12);
  const d = 1 + rand(28);
  const birth = `${y}${String(m).padStart(2, '0')}${String(d).padStart(2, '0')}`;
  let seq = rand(1000);
  if ((seq % 2 === 1) !== (sex === 'M')) seq = (seq + 1) % 1000;
  const body = `11${String(rand(10000)).padStart(4, '0')}${birth}${String(seq).padStart(3, '0')}`;
  const W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...body].reduce((s, c, i) => s + Number(c) * W[i], 0);
  return { id_number: body + '10X98765432'[sum % 11], birth_date: `${birth.slice(0, 4)}-${birth.slice(4, 6)}-${birth.slice(6)}` };
}

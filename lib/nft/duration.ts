// nft's duration words (`1m30s`, `2h`, `500ms`, a bare number of seconds): its own file so that
// statement extensions read them without importing the parser (parse.ts imports the extensions).

/**
 * A time as nft reads it (`1d2h3m4s`, `500ms`, `90`: seconds) in milliseconds.
 * @example durationMs('1m30s') // 90000
 */
export function durationMs(s: string): number | undefined {
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const units: Record<string, number> = { d: 86400000, h: 3600000, m: 60000, s: 1000, ms: 1 };
  let ms = 0;
  const re = /(\d+)(ms|d|h|m|s)/y;
  let p = 0;
  while (p < s.length) {
    re.lastIndex = p;
    const m = re.exec(s);
    if (!m) return undefined;
    ms += Number(m[1]) * units[m[2]!]!;
    p = re.lastIndex;
  }
  return s.length ? ms : undefined;
}

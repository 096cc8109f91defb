// nft's duration words (`1m30s`, `2h`, `500ms`, a bare number of seconds) read and printed: its own
// file so that statement and object extensions use them without importing the parser or printer
// (both import the extensions: an import cycle).

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

/**
 * A time in ms as nft prints it (time_print, datatype.c): 1d2h3m4s, 500ms; 0 as 0s.
 * @example timeText(90000) // '1m30s'
 */
export function timeText(ms: number): string {
  const parts: Array<[number, string]> = [[Math.floor(ms / 86400000), 'd'], [Math.floor(ms / 3600000) % 24, 'h'], [Math.floor(ms / 60000) % 60, 'm'], [Math.floor(ms / 1000) % 60, 's'], [ms % 1000, 'ms']];
  const out = parts.filter(([n]) => n > 0).map(([n, u]) => `${n}${u}`).join('');
  return out || '0s';
}

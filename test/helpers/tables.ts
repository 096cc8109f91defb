// Big iptables tables for the fault tests: deterministic, distinct per tag, and made of rules
// the legacy tools print back as written (so a save shows which table is in place).
export function bigFilter(tag: 'A' | 'B', rules: number, chains = 100): string {
  const out = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]'];
  for (let c = 0; c < chains; c++) out.push(`:${tag}-${c} - [0:0]`);
  for (let c = 0; c < chains; c++) out.push(`-A INPUT -j ${tag}-${c}`);
  const octet = tag === 'A' ? 10 : 11;
  for (let i = 0; i < rules; i++) {
    const c = i % chains;
    out.push(`-A ${tag}-${c} -s ${octet}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32 -p tcp -m tcp --dport ${1 + (i % 60000)} -j ACCEPT`);
  }
  out.push('COMMIT', '');
  return out.join('\n');
}

/** iptables-legacy-save output without its `#` comment lines (they carry timestamps). */
export const withoutComments = (save: string): string => save.split('\n').filter((l) => !l.startsWith('#')).join('\n');

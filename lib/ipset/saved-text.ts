// What `ipset save` printed, read back to put sets back as they were. A member's comment may
// hold a line break (the kernel keeps it; `ipset save` prints it raw inside the quotes, and
// `ipset restore` cannot read it back), so a record can span lines: records are split on the
// line breaks outside double quotes (comments cannot contain one).

/**
 * The commands of an `ipset save` text, one string each, without their final line break.
 * @example savedRecords('create a hash:ip comment\nadd a 10.0.0.1 comment "x\ny"\n')
 *   // ['create a hash:ip comment', 'add a 10.0.0.1 comment "x\ny"']
 */
export function savedRecords(text: string): string[] {
  const out: string[] = [];
  let open = '';
  for (const line of text.split('\n')) {
    const rec = open ? `${open}\n${line}` : line;
    if ((rec.split('"').length - 1) % 2 === 1) {
      open = rec;
      continue;
    }
    open = '';
    if (rec) out.push(rec);
  }
  if (open) out.push(open);
  return out;
}

/**
 * The same saved text with the set renamed (its create and add commands), for a copy to swap in.
 * @example renamedSaved('create a hash:ip\nadd a 10.0.0.1\n', 'tmp')  // 'create tmp hash:ip\nadd tmp 10.0.0.1\n'
 */
export function renamedSaved(text: string, name: string): string {
  return savedRecords(text).map((r) => r.replace(/^(create|add) \S+/, `$1 ${name}`) + '\n').join('');
}

/** Each member of the set: its element, and what follows `add NAME ` in its record. */
function membersOf(name: string, text: string): Map<string, string> {
  const out = new Map<string, string>();
  const prefix = `add ${name} `;
  for (const rec of savedRecords(text)) {
    if (!rec.startsWith(prefix)) continue;
    const rest = rec.slice(prefix.length);
    out.set(rest.split(' ', 1)[0]!, rest);
  }
  return out;
}

/** How a member's record compares, setting aside what time and traffic change (timeout left, counters). */
const stable = (rest: string) => rest.replace(/ timeout \d+/, '').replace(/ packets \d+ bytes \d+/, '');
const numberAfter = (rest: string, word: string) => Number(new RegExp(` ${word} (\\d+)`).exec(rest)?.[1] ?? -1);

/**
 * The `-exist` commands that turn a set saved as `now` back into `before`, saved `elapsed`
 * seconds earlier: members added since are deleted; members gone or changed (other extensions,
 * a timeout set again, counters set lower) are added again as `before` has them (a timeout as
 * the time that was left; a list:set member before the one that followed it).
 * @example undoText('a', 'add a 10.0.0.1 comment "x"\n', 'add a 10.0.0.2\n', 0)
 *   // ['del a 10.0.0.2', 'add a 10.0.0.1 comment "x"']
 */
export function undoText(name: string, before: string, now: string, elapsed: number): string[] {
  const was = membersOf(name, before);
  const is = membersOf(name, now);
  const out: string[] = [];
  for (const el of is.keys()) if (!was.has(el)) out.push(`del ${name} ${el}`);
  // A list:set's members are in order: one added back goes before the member that followed it.
  const list = new RegExp(`^create ${name.replace(/[^\w]/g, '\\$&')} list:set `, 'm').test(before);
  const adds: string[] = [];
  let next: string | undefined;
  for (const [el, rest] of [...was].reverse()) {
    const cur = is.get(el);
    const t = numberAfter(rest, 'timeout');
    const tNow = numberAfter(cur ?? '', 'timeout');
    const changed = cur === undefined || stable(cur) !== stable(rest) || tNow > t || (t > 0 && tNow < t - elapsed - 1) ||
      numberAfter(cur, 'packets') < numberAfter(rest, 'packets') || numberAfter(cur, 'bytes') < numberAfter(rest, 'bytes');
    if (changed) adds.push(`add ${name} ${rest}${list && cur === undefined && next !== undefined ? ` before ${next}` : ''}`);
    next = el;
  }
  return out.concat(list ? adds : adds.reverse());
}

// restore()'s text -> one batch, each command encoded as soon as it is parsed: nothing lives from
// one command to the next (a 20k-service text is 200k commands; held until encoded, the garbage
// collector copied and promoted every one). The bytes are encodeCommands(parseScript(text)
// .commands)'s; when the stream cannot give them (a syntax error, a command the encoder refuses,
// a set or interface it would have to read from the kernel, ...), streamScript() returns
// undefined and the caller takes that path, whose errors are the ones to report.
import { commandEncoder, type CommandEncoder, type EncodedBatch, type EncoderTarget } from './encode.js';
import { BlockPart, parseInto, type CommandSink } from './parse.js';
import type { Command, Family } from './types.js';
import { NftWriter } from './wire.js';

export interface StreamedScript {
  batch: EncodedBatch;
  /** The 1-based line of each command, by the command's index (as parseScript's). */
  lines: number[];
}

/** A 20k-service listing encodes to ~3.3 bytes per byte of text. */
const BYTES_PER_CHAR = 3.5;

/**
 * Parses and encodes nft's text in one pass; undefined when that cannot give parseScript()
 * then encodeCommands()'s batch (see the top of this file). `buffer`: EncodeOptions.buffer (the
 * spare batch buffer: a new ~54 MB one per 20k-service text made V8 count it as external memory
 * and start a full collection of the caller's heap inside restore()).
 * @example const s = streamScript('add table ip nat\n', '<text>', {}); // s?.batch.buf: BEGIN, NEWTABLE, END
 */
export function streamScript(text: string, source: string, opts: { generation?: number; buffer?: Buffer | undefined }): StreamedScript | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const s = new StreamSink(text.length, opts.generation, opts.buffer);
    parseInto(text, source, s);
    return s.finish();
  } catch {
    return undefined;
  }
}

/** A bail-out of the stream (not an error of the text: the caller parses it again). */
class NotStreamable extends Error {}

class StreamSink implements CommandSink {
  /** The sets rules looked up before the batch made them (a stream cannot look ahead). */
  private readonly missed = new Set<string>();
  private readonly enc: CommandEncoder;
  private readonly lines: number[] = [];
  /** Commands so far (the next one's index). */
  private index = 0;
  // A table block: where it starts in the batch; chains, objects and sets in writers of their own
  // (moved in front of its rules at its end), rules straight into the batch.
  private start = 0;
  private startOf = 0;
  private parts: Array<EncoderTarget & { lines: number[] }> = [];
  private ruleLines: number[] = [];

  constructor(chars: number, generation: number | undefined, buffer: Buffer | undefined) {
    this.enc = commandEncoder({
      streaming: true,
      ...(generation !== undefined ? { generation } : {}),
      ...(buffer ? { buffer } : {}),
      existingSet: (f: Family, t: string, n: string) => { this.missed.add(`${f}\0${t}\0${n}`); return undefined; },
    }, Math.max(4096, Math.ceil(chars * BYTES_PER_CHAR)));
  }

  command(cmd: Command, line: number): void {
    this.enc.add(cmd, this.index++, 'commands');
    this.lines.push(line);
  }

  blockBegin(): void {
    const m = this.enc.main;
    this.start = m.w.pos;
    this.startOf = m.of.length;
    this.parts = [0, 1, 2].map(() => ({ w: new NftWriter(0, 4096), of: [], lines: [] }));
    this.ruleLines = [];
  }

  blockItem(part: BlockPart, cmd: Command, line: number): void {
    if (part === BlockPart.Rule) {
      this.enc.into(this.enc.main);
      this.enc.add(cmd, this.ruleLines.length, 'commands');
      this.ruleLines.push(line);
      return;
    }
    const p = this.parts[part]!;
    if (part === BlockPart.Set) {
      // A rule of this block that named the set before it was declared was encoded without it.
      const o = (cmd.add as Record<string, Record<string, unknown>>);
      const s = o.set ?? o.map;
      if (s && this.missed.has(`${String(s.family)}\0${String(s.table)}\0${String(s.name)}`)) throw new NotStreamable();
    }
    this.enc.into(p);
    this.enc.add(cmd, p.lines.length, 'commands');
    p.lines.push(line);
  }

  blockEnd(table: Command, line: number): void {
    const head: EncoderTarget & { lines: number[] } = { w: new NftWriter(0, 4096), of: [], lines: [line] };
    this.enc.into(head);
    this.enc.add(table, 0, 'commands');
    const all = [head, ...this.parts];
    // Command indexes: the table, its chains, objects, sets, then its rules.
    let base = this.index;
    const of: number[] = [];
    for (const p of all) {
      for (const i of p.of) of.push(base + i);
      for (const l of p.lines) this.lines.push(l);
      base += p.lines.length;
    }
    for (const l of this.ruleLines) this.lines.push(l);
    const m = this.enc.main, w = m.w;
    let n = 0;
    for (const p of all) n += p.w.pos;
    w.ensure(n);
    w.buf.copyWithin(this.start + n, this.start, w.pos);
    let at = this.start;
    for (const p of all) { p.w.buf.copy(w.buf, at, 0, p.w.pos); at += p.w.pos; }
    w.pos += n;
    const rules = m.of.splice(this.startOf);
    for (const i of of) m.of.push(i);
    for (const i of rules) m.of.push(base + i);
    this.index = base + this.ruleLines.length;
    this.parts = [];
    this.enc.into(m);
  }

  finish(): StreamedScript {
    const batch = this.enc.finish();
    // Messages moved in front of a block's rules carry their own writers' numbers: renumbered in batch order.
    const b = batch.buf, n = b.length;
    let seq = batch.seq;
    // Byte stores (200k messages at 20k services): nlmsg_len and nlmsg_seq are little-endian u32s.
    for (let p = 0; p < n; p += ((b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) + 3) & ~3) {
      const s = seq++;
      b[p + 8] = s & 0xff; b[p + 9] = (s >>> 8) & 0xff; b[p + 10] = (s >>> 16) & 0xff; b[p + 11] = s >>> 24;
    }
    return { batch, lines: this.lines };
  }
}

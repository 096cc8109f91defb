// A truncated shared object can crash dlopen with SIGBUS (its segments are mapped past the end
// of the file) instead of failing, so the addon's ELF header is checked against the file first.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** e_machine of each Node architecture (elf.h). */
const MACHINES: Record<string, number> = { x64: 62, arm64: 183, ia32: 3, arm: 40, riscv64: 243, ppc64: 21, s390x: 22 };

/**
 * What is wrong with the 64-bit little-endian ELF shared object whose first bytes are `head`
 * (its header and program headers) and whose size is `size`; undefined when nothing is.
 * @example elfProblem(readFileSync('nlkit.node'), statSync('nlkit.node').size, 'x64') // undefined
 */
export function elfProblem(head: Buffer, size: number, arch: string): string | undefined {
  if (size < 64 || head.readUInt32BE(0) !== 0x7f454c46) return 'not an ELF file';
  if (head[4] !== 2 || head[5] !== 1) return 'not a 64-bit little-endian ELF file';
  if (head.readUInt16LE(16) !== 3) return 'not a shared object';
  const machine = head.readUInt16LE(18);
  if (MACHINES[arch] !== undefined && machine !== MACHINES[arch]) return `built for ELF machine ${machine}, not ${arch}`;
  const phoff = Number(head.readBigUInt64LE(32));
  const shoff = Number(head.readBigUInt64LE(40));
  const phentsize = head.readUInt16LE(54), phnum = head.readUInt16LE(56);
  const shentsize = head.readUInt16LE(58), shnum = head.readUInt16LE(60);
  if (phoff + phentsize * phnum > size || shoff + shentsize * shnum > size) return `truncated (${size} bytes)`;
  if (phoff + phentsize * phnum > head.length) return undefined;  // caller read too little to check segments
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    const type = head.readUInt32LE(ph);
    const end = Number(head.readBigUInt64LE(ph + 8)) + Number(head.readBigUInt64LE(ph + 32));
    if (type === 1 && end > size) return `truncated (${size} bytes, a segment ends at ${end})`;
  }
  return undefined;
}

/** Architectures whose Linux addons are 64-bit little-endian ELF: the only ones checked. */
const CHECKED = ['x64', 'arm64', 'riscv64', 'ppc64'];

/** elfProblem() of a file, reading only its headers. */
export function elfFileProblem(file: string, arch: string = process.arch): string | undefined {
  if (!CHECKED.includes(arch)) return undefined;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, 4096));
    readSync(fd, head, 0, head.length, 0);
    return elfProblem(head, size, arch);
  } finally {
    closeSync(fd);
  }
}

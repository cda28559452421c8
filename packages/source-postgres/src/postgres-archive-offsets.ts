import * as fs from 'node:fs/promises';

/*
 * Data offsets for a pg_dump custom-format archive that was written to a pipe.
 *
 * pg_dump -Fc writes its TOC before the data. When the output can seek (`-f file`) it goes
 * back at the end and rewrites the TOC with each data block's file offset; when it writes
 * to stdout (as Arca does, to stream) every data entry keeps the flag
 * K_OFFSET_POS_NOT_SET. pg_restore then finds a block by scanning the data from the start,
 * and with --jobs every worker scans on its own — with -Z0 archives one chunk per row — so
 * parallel restore of a piped archive is much slower than of a `-f` one.
 *
 * This scanner reads the archive once, as it is spooled (no second pass over the file),
 * records where each TOC entry's offset field is and where each data block starts, and
 * `patchOffsets()` writes the offsets into the spooled file in place (the field has a fixed
 * size: one flag byte + offSize bytes), so it reads exactly like an archive from `-f`.
 * Hand-written because no maintained library parses the archive format; it follows
 * PostgreSQL's src/bin/pg_dump/pg_backup_archiver.c (ReadHead, ReadToc) and
 * pg_backup_custom.c (block layout), archive versions 1.12 (PostgreSQL 9.0) to 1.16.
 * Anything it does not understand makes it give up quietly: the archive is then left as it
 * is (pg_restore still reads it, only slower); it never decides whether an archive is valid.
 */

const K_OFFSET_POS_NOT_SET = 1;
const K_OFFSET_POS_SET = 2;
export const BLK_DATA = 1;
export const BLK_BLOBS = 3;
const FORMAT_CUSTOM = 1;
const MIN_VERSION = (1 << 16) | (12 << 8); // 1.12
const MAX_VERSION = (1 << 16) | (16 << 8) | 255; // 1.16.x
const MAX_TOC_BYTES = 256 << 20;

export class NeedMore extends Error {}

/** pg_dump's archive int at b[at..]: a sign byte (non-zero: negative), then `size` bytes little-endian. */
export function archiveInt(b: Uint8Array, at: number, size: number): number {
  let v = 0;
  for (let k = 0; k < size; k++) v += b[at + 1 + k]! * 2 ** (8 * k);
  return b[at] ? -v : v;
}

export interface Toc {
  /** Bytes of header + TOC: the data blocks start here. */
  end: number;
  intSize: number;
  offSize: number;
  /** dumpId → file position of its offset field, for entries whose offset is not set. */
  unset: Map<number, number>;
  /** The data blocks hold raw bytes (-Z0; compression algorithm or level 0), not zlib/lz4/zstd streams. */
  uncompressed: boolean;
}

/** Parse header + TOC from `b`; throws NeedMore when `b` ends first, Error when it is not an archive we understand. */
export function parseToc(b: Buffer): Toc {
  let p = 0;
  const need = (n: number) => {
    if (p + n > b.length) throw new NeedMore();
  };
  const byte = () => (need(1), b[p++]!);
  let intSize = 4;
  const int = () => {
    need(1 + intSize);
    const v = archiveInt(b, p, intSize);
    p += 1 + intSize;
    return v;
  };
  const str = () => {
    const n = int();
    if (n < 0) return null;
    need(n);
    const s = b.toString('latin1', p, p + n);
    p += n;
    return s;
  };
  need(5);
  if (b.toString('latin1', 0, 5) !== 'PGDMP') throw new Error('no PGDMP magic');
  p = 5;
  const version = (byte() << 16) | (byte() << 8) | byte();
  if (version < MIN_VERSION || version > MAX_VERSION) throw new Error(`archive version ${version.toString(16)}`);
  intSize = byte();
  const offSize = byte();
  if (intSize < 1 || intSize > 8 || offSize < 1 || offSize > 8) throw new Error('odd int/offset size');
  if (byte() !== FORMAT_CUSTOM) throw new Error('not custom format');
  // 1.15+: compression algorithm (0 = none); before: zlib level (0 = none, -1 = default).
  const uncompressed = (version >= ((1 << 16) | (15 << 8)) ? byte() : int()) === 0;
  for (let i = 0; i < 7; i++) int(); // creation date
  str(); // database name
  str(); // server version
  str(); // pg_dump version
  const count = int();
  if (count < 0) throw new Error('negative TOC count');
  const unset = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const dumpId = int();
    if (dumpId <= 0) throw new Error('bad dump id');
    int(); // hadDumper
    for (let s = 0; s < 4; s++) str(); // tableoid, oid, tag, desc
    int(); // section
    for (let s = 0; s < 5; s++) str(); // defn, dropStmt, copyStmt, namespace, tablespace
    if (version >= ((1 << 16) | (14 << 8))) str(); // tableam
    if (version >= ((1 << 16) | (16 << 8))) int(); // relkind
    str(); // owner
    str(); // withOids
    while (str() !== null); // dependencies, NULL-terminated
    const at = p;
    const flag = byte();
    need(offSize);
    p += offSize;
    if (flag === K_OFFSET_POS_NOT_SET) unset.set(dumpId, at);
  }
  return { end: p, intSize, offSize, unset, uncompressed };
}

type State = 'blockType' | 'blockId' | 'chunkLen' | 'skip' | 'blobOid';

/** Feed it the archive's bytes in order; then `patchOffsets(file)`. */
export function customArchiveScanner() {
  let head: Buffer[] = [];
  let headBytes = 0;
  let nextTry = 4096;
  let toc: Toc | undefined;
  let failed = false;
  let pos = 0; // absolute position of the next byte to scan
  let state: State = 'blockType';
  let blockKind = 0;
  let blockStart = 0;
  let skip = 0;
  const acc = Buffer.alloc(9);
  let accN = 0;
  const found = new Map<number, number>();
  let ended = false;

  /** Scan data bytes b[from..]; `pos` is the absolute position of b[from]. */
  function scan(b: Buffer, from: number): void {
    let i = from;
    const n = b.length;
    const intLen = 1 + toc!.intSize;
    while (i < n) {
      if (state === 'skip') {
        const k = Math.min(skip, n - i);
        i += k;
        skip -= k;
        if (skip === 0) state = 'chunkLen';
        continue;
      }
      if (state === 'chunkLen' && accN === 0) {
        // Fast path (one chunk per row in -Z0 archives): whole length ints inside this buffer.
        const size = toc!.intSize;
        while (i + intLen <= n) {
          const v = size === 4 ? b.readUInt32LE(i + 1) : b.readUIntLE(i + 1, Math.min(size, 6));
          if (v === 0 || b[i] !== 0 || (size > 6 && b.readUIntLE(i + 7, size - 6) !== 0)) break; // end of block, or a negative length: the slow path decides
          i += intLen + v;
        }
        if (i > n) {
          skip = i - n;
          state = 'skip';
          i = n;
          continue;
        }
        // Otherwise: an int split across buffers, a zero or a negative length: the slow path below.
      }
      if (state === 'blockType') {
        blockStart = pos + (i - from);
        blockKind = b[i++]!;
        if (blockKind !== BLK_DATA && blockKind !== BLK_BLOBS) return void (failed = true);
        state = 'blockId';
        accN = 0;
        continue;
      }
      // An int, possibly split across chunks.
      while (accN < intLen && i < n) acc[accN++] = b[i++]!;
      if (accN < intLen) break;
      accN = 0;
      const v = archiveInt(acc, 0, toc!.intSize);
      if (state === 'blockId') {
        if (v <= 0) return void (failed = true);
        found.set(v, blockStart);
        state = blockKind === BLK_BLOBS ? 'blobOid' : 'chunkLen';
      } else if (state === 'blobOid') {
        state = v === 0 ? 'blockType' : 'chunkLen';
      } else if (v === 0) {
        state = blockKind === BLK_BLOBS ? 'blobOid' : 'blockType';
      } else if (v < 0) {
        return void (failed = true);
      } else {
        skip = v;
        state = 'skip';
      }
    }
    pos += n - from;
  }

  return {
    push(chunk: Uint8Array): void {
      if (failed || ended) return;
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (toc) return scan(b, 0);
      head.push(b);
      headBytes += b.length;
      if (headBytes < nextTry) return;
      const all = Buffer.concat(head, headBytes);
      try {
        toc = parseToc(all);
      } catch (e) {
        if (!(e instanceof NeedMore) || headBytes > MAX_TOC_BYTES) failed = true;
        else {
          head = [all];
          nextTry = headBytes * 2; // re-parse only after doubling: linear overall
        }
        return;
      }
      head = [];
      pos = toc.end;
      scan(all, toc.end);
    },
    /**
     * Write the found offsets into `file` (the spooled archive, exactly the bytes pushed).
     * `complete`: the header, the TOC and every data block parsed through to a clean end,
     * and every TOC entry waiting for data got its block — a stronger check than
     * `pg_restore --list`, which reads only the TOC. `patched`: entries written (0 when it
     * gave up or had nothing to do; nothing is written then).
     */
    async patchOffsets(file: string): Promise<{ complete: boolean; patched: number }> {
      ended = true;
      if (!toc && !failed && headBytes) {
        try {
          const all = Buffer.concat(head, headBytes);
          toc = parseToc(all);
          pos = toc.end;
          scan(all, toc.end);
        } catch {
          failed = true;
        }
      }
      const none = { complete: false, patched: 0 };
      if (!toc || failed || state !== 'blockType' || accN !== 0) return none;
      for (const id of found.keys()) if (!toc.unset.has(id)) return none; // a block the TOC does not list as unset: leave it
      const writes: Array<[number, Buffer]> = [];
      for (const [dumpId, at] of toc.unset) {
        const off = found.get(dumpId);
        if (off === undefined) return none; // a TOC entry whose data block is missing: truncated or not from pg_dump
        const field = Buffer.alloc(1 + toc.offSize);
        field[0] = K_OFFSET_POS_SET;
        let v = off;
        for (let i = 0; i < toc.offSize; i++) {
          field[1 + i] = v % 256;
          v = Math.floor(v / 256);
        }
        writes.push([at, field]);
      }
      if (!writes.length) return { complete: true, patched: 0 };
      const fh = await fs.open(file, 'r+');
      try {
        for (const [at, field] of writes) await fh.write(field, 0, field.length, at);
      } finally {
        await fh.close();
      }
      return { complete: true, patched: writes.length };
    },
  };
}

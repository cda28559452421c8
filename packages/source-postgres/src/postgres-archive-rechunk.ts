import { BLK_DATA, NeedMore, archiveInt, parseToc } from './postgres-archive-offsets.js';

/*
 * Merge the row-sized data chunks of an uncompressed (-Z0) pg_dump custom archive into big
 * ones, on the way into `pg_restore` (the streamed restore, postgres-restore-stream.ts).
 *
 * pg_dump -Fc -Z0 writes one chunk per row ([int length][row bytes]), and pg_restore sends
 * each chunk as its own CopyData message: ~4 M messages for the 480 MB bench archive, where
 * a -Z6 archive (inflated 4 KiB at a time) sends ~120 k. The server pays per message, and
 * the restore is bound by the server's one COPY backend. Measured on this 2-vCPU machine
 * (bench archive, pg_restore --single-transaction from a pipe, best/typical of 3):
 * per-row chunks 4.76-4.89 s, merged into 64 KiB chunks 4.63-4.65 s; pg_restore's own CPU
 * 333 -> 177 ms, its read() calls 117 k -> 16 k. The JS here costs ~0.2 s of CPU (one bulk copy
 * per input chunk, one copyWithin per row), which overlaps the server's work on the other
 * core. Arca's whole default restore (bench/postgres-child.mjs, 6 alternating pairs): median
 * 5.44 -> 5.27 s, process-tree CPU the same (2.70 s; 2.89 before merged chunks were reused).
 *
 * The output is the same archive, only with the data chunks of each table cut differently:
 * pg_restore concatenates a table's chunks into one COPY stream, so rows may span chunks.
 * Only BLK_DATA blocks of archives whose header says "no compression" are merged; at anything
 * else (compressed data, large-object blocks, a negative length, what parseToc does not know)
 * it passes the rest of the bytes through unchanged, so pg_restore sees exactly what it would
 * have, and decides. The TOC's data offsets are not touched: pg_restore cannot seek in a pipe,
 * so it reads the blocks in order and ignores them. It never decides whether an archive is
 * valid and never throws.
 */

/** Payload bytes per merged chunk (pg_restore holds one chunk in memory at a time). */
const MERGED = 1 << 16;
/** A merged chunk is sent once less than this is free in it (so chunks are 56-64 KiB). */
const SLACK = 8 << 10;
/** Header + TOC held back at most this long, waiting to parse it; a bigger TOC is passed through as is. */
const MAX_HEAD = 16 << 20;

export interface ArchiveRechunker {
  /** The bytes to write for `chunk`, in order (often none or one buffer). */
  push(chunk: Uint8Array): Buffer[];
  /** The rest, once the input ended. */
  end(): Buffer[];
  /** `piece` (from push/end) was written and is no longer used: its memory may be reused. */
  release(piece: Buffer): void;
  /** Row chunks read, merged chunks written; `passThrough` once it stopped merging. */
  readonly stats: { chunksIn: number; chunksOut: number; passThrough: boolean };
}

type State = 'head' | 'blockType' | 'blockId' | 'chunkLen' | 'payload' | 'pass';

export function uncompressedArchiveRechunker(merged = MERGED): ArchiveRechunker {
  let state: State = 'head';
  let head: Buffer[] = [];
  let headBytes = 0;
  let nextTry = 4096;
  let intSize = 4;
  let intLen = 5;
  const acc = Buffer.alloc(9); // an int split across input chunks
  let accN = 0;
  let remaining = 0; // bytes left of the current row chunk
  let block: Buffer | undefined; // [int length][payload] being filled
  let fill = 0;
  // Merged chunks are reused once written: a fresh 64 KiB buffer each (~7 k for the bench
  // archive) made V8 run a mark-compact every ~10 MB of them (46 per restore, ~0.25 s).
  const ours = new WeakMap<ArrayBufferLike, Buffer>();
  const spare: Buffer[] = [];
  const newBlock = () => {
    // Its own ArrayBuffer (never Buffer's shared pool, whatever Buffer.poolSize is): `ours` maps it back exactly.
    const b = spare.pop() ?? Buffer.from(new ArrayBuffer(intLen + merged));
    ours.set(b.buffer, b);
    return b;
  };
  const stats = { chunksIn: 0, chunksOut: 0, passThrough: false };

  function flush(out: Buffer[]): void {
    if (!block || fill === 0) return;
    block[0] = 0; // sign: positive
    for (let k = 0; k < intSize; k++) block[1 + k] = k < 4 ? (fill >>> (8 * k)) & 255 : 0;
    out.push(block.subarray(0, intLen + fill));
    stats.chunksOut++;
    block = undefined;
    fill = 0;
  }

  /** Stop merging: what was merged so far is complete chunks; the rest goes out as it came. */
  function giveUp(out: Buffer[], b: Buffer, i: number): void {
    flush(out);
    if (accN) out.push(Buffer.from(acc.subarray(0, accN)));
    accN = 0;
    if (i < b.length) out.push(b.subarray(i));
    state = 'pass';
    stats.passThrough = true;
  }

  /** Read an int at b[i..] into `acc`, possibly across calls (complete when accN === intLen); returns the new i. */
  function readInt(b: Buffer, i: number): number {
    while (accN < intLen && i < b.length) acc[accN++] = b[i++]!;
    return i;
  }

  /**
   * Hot path (one chunk per row): copy raw bytes of `b` from `i` into the free part of `block`
   * with one bulk copy, then squeeze out the length ints in place with copyWithin (no
   * allocation per row: ~70 ms for 4 M rows, where Buffer#copy per row cost ~270 ms).
   * Stops at a zero or negative length, or the segment's end; returns how far `b` was consumed.
   */
  function compact(b: Buffer, i: number, out: Buffer[]): number {
    if (block && merged - fill < SLACK) flush(out);
    block ??= newBlock();
    const seg = Math.min(b.length - i, merged - fill);
    const base = intLen + fill;
    block.set(new Uint8Array(b.buffer, b.byteOffset + i, seg), base);
    const lim = base + seg;
    let s = base;
    let d = base;
    while (s + intLen <= lim && block[s] === 0) {
      const v = intSize === 4 ? block[s + 1]! + block[s + 2]! * 0x100 + block[s + 3]! * 0x10000 + block[s + 4]! * 0x1000000 : archiveInt(block, s, intSize);
      if (v === 0) break; // end of the block: the general path
      stats.chunksIn++;
      const from = s + intLen;
      if (v > lim - from) {
        // The row goes on past this segment.
        block.copyWithin(d, from, lim);
        d += lim - from;
        remaining = v - (lim - from);
        state = 'payload';
        s = lim;
        break;
      }
      block.copyWithin(d, from, from + v);
      d += v;
      s = from + v;
    }
    fill = d - intLen;
    if (fill === merged) flush(out);
    return i + (s - base);
  }

  function data(b: Buffer, i: number, out: Buffer[]): void {
    const n = b.length;
    while (i < n) {
      if (state === 'chunkLen' && accN === 0 && i + intLen <= n && b[i] === 0 && (intSize === 4 ? b.readUInt32LE(i + 1) : archiveInt(b, i, intSize)) !== 0) {
        i = compact(b, i, out);
        continue;
      }
      if (state === 'payload') {
        block ??= newBlock();
        const k = Math.min(remaining, n - i, merged - fill);
        block.set(new Uint8Array(b.buffer, b.byteOffset + i, k), intLen + fill);
        fill += k;
        i += k;
        remaining -= k;
        if (fill === merged) flush(out);
        if (remaining === 0) state = 'chunkLen';
        continue;
      }
      if (state === 'blockType') {
        if (b[i] !== BLK_DATA) return giveUp(out, b, i); // large objects (BLK_BLOBS) or unknown: as they are
        out.push(b.subarray(i, i + 1));
        i++;
        state = 'blockId';
        continue;
      }
      // blockId, or a chunk length split across buffers / zero / negative.
      i = readInt(b, i);
      if (accN < intLen) return;
      if (state === 'blockId') {
        out.push(Buffer.from(acc.subarray(0, intLen)));
        accN = 0;
        state = 'chunkLen';
        continue;
      }
      const v = archiveInt(acc, 0, intSize);
      if (v < 0) return giveUp(out, b, i);
      accN = 0;
      if (v === 0) {
        flush(out);
        out.push(Buffer.alloc(intLen)); // the block's end marker
        state = 'blockType';
      } else {
        stats.chunksIn++;
        remaining = v;
        state = 'payload';
      }
    }
  }

  return {
    stats,
    release(piece) {
      const b = ours.get(piece.buffer);
      // No cap: a block is only made when none is spare, so there are never more than were
      // in flight at once (the restore's stdin queue: ~64 of them).
      if (b && b.byteLength === intLen + merged && !spare.includes(b) && b !== block) spare.push(b);
    },
    push(chunk) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      const out: Buffer[] = [];
      if (state === 'pass') return b.length ? [b] : [];
      if (state !== 'head') {
        data(b, 0, out);
        return out;
      }
      head.push(b);
      headBytes += b.length;
      if (headBytes < nextTry) return out;
      const all = Buffer.concat(head, headBytes);
      head = [];
      try {
        const toc = parseToc(all);
        if (!toc.uncompressed) return giveUp(out, all, 0), out;
        intSize = toc.intSize;
        intLen = 1 + intSize;
        out.push(all.subarray(0, toc.end));
        state = 'blockType';
        data(all, toc.end, out);
      } catch (e) {
        if (e instanceof NeedMore && headBytes <= MAX_HEAD) {
          head = [all];
          nextTry = headBytes * 2; // re-parse only after doubling: linear overall
        } else giveUp(out, all, 0);
      }
      return out;
    },
    end() {
      const out: Buffer[] = [];
      if (state === 'head') {
        if (headBytes) out.push(Buffer.concat(head, headBytes));
        head = [];
      } else if (state !== 'pass' && !(state === 'blockType' && accN === 0)) giveUp(out, Buffer.alloc(0), 0); // cut short: as it came
      return out;
    },
  };
}

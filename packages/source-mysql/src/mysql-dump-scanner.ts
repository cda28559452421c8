/**
 * Reads a mysqldump/mariadb-dump SQL stream as it flows by, without buffering it, to learn
 * two things no separate query can tell about the dump's own snapshot:
 *
 * - the binary log coordinates and GTID set written by `--master-data=2`/`--source-data=2`
 *   (comments like `-- CHANGE MASTER TO MASTER_LOG_FILE='x', MASTER_LOG_POS=n;` at the top and,
 *   from mariadb-dump, `-- SET GLOBAL gtid_slave_pos='0-1-5';` at the end);
 * - the exact number of rows dumped per table, by counting the tuples of every
 *   `INSERT INTO \`t\` VALUES (...),(...);` statement (one line in MySQL and older MariaDB,
 *   one row per line since MariaDB 10.11.x/11.x). The tool writes each row as one
 *   parenthesised tuple, escapes quotes and newlines inside strings (`\'`, `\n`) and never
 *   writes a parenthesis or `;` outside a string within the value list, so counting `(` at
 *   depth 0 outside string literals up to the `;` is exact. Binary data is hex (`0x..`,
 *   `--hex-blob`) or escaped.
 *
 * Written by hand (a per-byte state machine) because no maintained streaming parser for
 * mysqldump output exists; an SQL parser would be far slower and hold whole statements.
 */

const enum Mode {
  LineStart,
  Skip,
  Insert,
  HeaderLine,
}

const NL = 0x0a;
const QUOTE = 0x27;
const BSLASH = 0x5c;
const LPAREN = 0x28;
const RPAREN = 0x29;
const BTICK = 0x60;
const SEMI = 0x3b;
const INSERT_PREFIX = Buffer.from('INSERT INTO `');
const USE_PREFIX = Buffer.from('USE `');
const DECIDE_BYTES = 1024;
const HEADER_LINE_MAX = 1 << 16;

export interface BinlogCoordinates {
  file?: string;
  position?: number;
  gtid?: string;
}

/** Parse binlog/GTID header lines written by mariadb-dump (`--master-data`) or mysqldump (`--source-data`). */
export function parseBinlogHeader(lines: string[]): BinlogCoordinates {
  const out: BinlogCoordinates = {};
  for (const l of lines) {
    const m = /CHANGE (?:MASTER|REPLICATION SOURCE) TO (?:MASTER|SOURCE)_LOG_FILE\s*=\s*'([^']+)'\s*,\s*(?:MASTER|SOURCE)_LOG_POS\s*=\s*(\d+)/i.exec(l);
    if (m) {
      out.file = m[1]!;
      out.position = Number(m[2]);
    }
    const g = /gtid_slave_pos\s*=\s*'([^']*)'/i.exec(l) ?? /GTID_PURGED\s*=\s*(?:\/\*!\d+ '\+'\*\/\s*)?'([^']*)'/i.exec(l);
    if (g && g[1] !== undefined) out.gtid = g[1].replace(/\s+/g, '');
  }
  return out;
}

export class DumpScanner {
  /** Rows per database (`''` when the dump has no `USE` lines) and table. */
  readonly rows = new Map<string, Map<string, number>>();
  /** Header comment lines that mention binlog coordinates or GTIDs. */
  readonly headerLines: string[] = [];
  private mode = Mode.LineStart;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private db = '';
  private counts: Map<string, number> | undefined;
  private table = '';
  private tableRows = 0;
  // Insert-mode state
  private inStr = 0; // 0 or the quote byte
  private esc = false;
  private inTick = false;
  private valuesStarted = false;
  private depth = 0;

  /** Feed the next chunk. */
  push(chunk: Uint8Array): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.process(buf, 0);
  }

  /** Call once the stream ended. */
  end(): void {
    if (this.mode === Mode.Insert) this.finishInsert();
    if (this.mode === Mode.LineStart && this.pendingLen) this.decide(Buffer.concat(this.pending), true);
    if (this.mode === Mode.HeaderLine) this.finishHeader();
  }

  /** Rows per table of one database (`''` for single-database dumps). */
  rowsOf(db: string): Record<string, number> {
    return Object.fromEntries(this.rows.get(db) ?? []);
  }

  binlog(): BinlogCoordinates {
    return parseBinlogHeader(this.headerLines);
  }

  private process(buf: Buffer, start: number): void {
    let i = start;
    const n = buf.length;
    while (i < n) {
      switch (this.mode) {
        case Mode.Skip: {
          const nl = buf.indexOf(NL, i);
          if (nl < 0) return;
          i = nl + 1;
          this.mode = Mode.LineStart;
          break;
        }
        case Mode.LineStart: {
          const nl = buf.indexOf(NL, i);
          const end = nl < 0 ? n : nl + 1;
          const need = DECIDE_BYTES - this.pendingLen;
          if (nl < 0 && end - i < need) {
            this.pending.push(buf.subarray(i, end));
            this.pendingLen += end - i;
            return;
          }
          const take = Math.min(end - i, need);
          const line = this.pendingLen ? Buffer.concat([...this.pending, buf.subarray(i, i + take)]) : buf.subarray(i, i + take);
          const consumedFromPending = this.pendingLen;
          this.pending = [];
          this.pendingLen = 0;
          const resumeAt = this.decide(line, false);
          // decide() returns how many bytes of `line` it consumed; continue after them in `buf`.
          i = i + (resumeAt - consumedFromPending);
          break;
        }
        case Mode.Insert:
          i = this.scanInsert(buf, i);
          break;
        case Mode.HeaderLine: {
          const nl = buf.indexOf(NL, i);
          const end = nl < 0 ? n : nl;
          if (this.pendingLen < HEADER_LINE_MAX) {
            this.pending.push(buf.subarray(i, Math.min(end, i + HEADER_LINE_MAX - this.pendingLen)));
            this.pendingLen += Math.min(end - i, HEADER_LINE_MAX - this.pendingLen);
          }
          if (nl < 0) return;
          this.finishHeader();
          i = nl + 1;
          this.mode = Mode.LineStart;
          break;
        }
      }
    }
  }

  /**
   * Decide what a line is from its first bytes (`line` holds up to DECIDE_BYTES or the whole
   * line with its newline). Returns how many bytes of `line` were consumed; the mode is set
   * for the rest.
   */
  private decide(line: Buffer, atEnd: boolean): number {
    if (line.length >= INSERT_PREFIX.length && line.subarray(0, INSERT_PREFIX.length).equals(INSERT_PREFIX)) {
      const name = readQuoted(line, INSERT_PREFIX.length);
      if (name) {
        this.startInsert(name.value);
        const pos = name.end;
        if (pos < line.length) return pos + this.consumeInsert(line, pos);
        return line.length;
      }
    } else if (line.length >= USE_PREFIX.length && line.subarray(0, USE_PREFIX.length).equals(USE_PREFIX)) {
      const name = readQuoted(line, USE_PREFIX.length);
      if (name) this.db = name.value;
    } else if (/^(--|SET|CHA)/i.test(line.subarray(0, 3).toString('latin1'))) {
      // Binlog comments: file/position at the top, MariaDB's GTID (`gtid_slave_pos`) at the
      // very end of the dump; the last occurrence wins.
      const text = line.toString('utf8');
      const nl = line.indexOf(NL);
      if (nl >= 0 || atEnd) {
        if (/LOG_FILE|gtid/i.test(text)) this.headerLines.push(text.trimEnd());
        this.mode = Mode.LineStart;
        return nl >= 0 ? nl + 1 : line.length;
      }
      this.pending = [line];
      this.pendingLen = line.length;
      this.mode = Mode.HeaderLine;
      return line.length;
    }
    const nl = line.indexOf(NL);
    if (nl >= 0) {
      this.mode = Mode.LineStart;
      return nl + 1;
    }
    this.mode = Mode.Skip;
    return line.length;
  }

  /** Scan insert bytes that were part of the decision buffer. */
  private consumeInsert(line: Buffer, pos: number): number {
    const stop = this.scanInsert(line, pos);
    return stop - pos;
  }

  private startInsert(table: string): void {
    let m = this.rows.get(this.db);
    if (!m) this.rows.set(this.db, (m = new Map()));
    this.counts = m;
    this.table = table;
    this.tableRows = 0;
    this.inStr = 0;
    this.esc = false;
    this.inTick = false;
    this.valuesStarted = false;
    this.depth = 0;
    this.mode = Mode.Insert;
  }

  /** Statement ended at its `;`: the rest of that line is skipped. */
  private finishInsert(): void {
    this.counts!.set(this.table, (this.counts!.get(this.table) ?? 0) + this.tableRows);
    this.mode = Mode.Skip;
  }

  private finishHeader(): void {
    const text = Buffer.concat(this.pending).toString('utf8');
    this.pending = [];
    this.pendingLen = 0;
    if (/LOG_FILE|gtid/i.test(text)) this.headerLines.push(text.trimEnd());
  }

  /** The hot loop: returns the index after the statement's `;`, or buf.length. */
  private scanInsert(buf: Buffer, from: number): number {
    let inStr = this.inStr;
    let esc = this.esc;
    let depth = this.depth;
    let rowsHere = 0;
    let i = from;
    const n = buf.length;
    if (!this.valuesStarted) {
      // Before `VALUES`: an optional column list `(\`a\`,\`b\`)` must not count as a row.
      for (; i < n; i++) {
        const b = buf[i]!;
        if (this.inTick) {
          if (b === BTICK) this.inTick = false;
        } else if (b === BTICK) this.inTick = true;
        else if (b === LPAREN) depth++;
        else if (b === RPAREN) depth--;
        else if (b === 0x56 /* V */ && depth === 0) {
          this.valuesStarted = true;
          break;
        } else if (b === SEMI) {
          this.depth = 0;
          this.finishInsert();
          return i + 1;
        }
      }
      if (i >= n) {
        this.depth = depth;
        return n;
      }
    }
    // Event-driven: jump between the few bytes that matter with Buffer.indexOf (memchr),
    // caching each byte's next position so every byte is scanned once per kind.
    const next = [-2, -2, -2, -2, -2]; // QUOTE, BSLASH, LPAREN, RPAREN, SEMI; -2 unknown, -1 none left
    const KIND = [QUOTE, BSLASH, LPAREN, RPAREN, SEMI];
    const pos = (k: number): number => {
      let p = next[k]!;
      if (p === -2 || (p !== -1 && p < i)) next[k] = p = buf.indexOf(KIND[k]!, i);
      return p;
    };
    const first = (a: number, b: number) => (a === -1 ? b : b === -1 ? a : Math.min(a, b));
    while (i < n) {
      if (inStr !== 0) {
        if (esc) {
          esc = false;
          i++;
          continue;
        }
        const q = pos(0);
        const bs = pos(1);
        const at = first(q, bs);
        if (at === -1) {
          i = n;
          break;
        }
        if (at === bs) {
          esc = true;
          i = at + 1;
        } else {
          inStr = 0;
          i = at + 1;
        }
        continue;
      }
      const at = first(first(pos(0), pos(2)), first(pos(3), pos(4)));
      if (at === -1) {
        i = n;
        break;
      }
      const b = buf[at]!;
      i = at + 1;
      if (b === QUOTE) inStr = QUOTE;
      else if (b === LPAREN) {
        if (depth === 0) rowsHere++;
        depth++;
      } else if (b === RPAREN) depth--;
      else if (depth === 0) {
        // `;` outside any tuple: the statement ended.
        this.tableRows += rowsHere;
        this.inStr = 0;
        this.esc = false;
        this.depth = 0;
        this.finishInsert();
        return i;
      }
    }
    this.tableRows += rowsHere;
    this.inStr = inStr;
    this.esc = esc;
    this.depth = depth;
    return n;
  }
}

/** Read a backtick-quoted identifier starting at `pos` (just after the opening backtick). */
function readQuoted(buf: Buffer, pos: number): { value: string; end: number } | undefined {
  const parts: Buffer[] = [];
  let i = pos;
  let from = pos;
  while (i < buf.length) {
    if (buf[i] === BTICK) {
      if (buf[i + 1] === BTICK) {
        parts.push(buf.subarray(from, i + 1));
        i += 2;
        from = i;
        continue;
      }
      parts.push(buf.subarray(from, i));
      return { value: Buffer.concat(parts).toString('utf8'), end: i + 1 };
    }
    i++;
  }
  return undefined;
}

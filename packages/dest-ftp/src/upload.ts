import type { Socket } from 'node:net';
import type { Client, FTPResponse } from 'basic-ftp';

/**
 * Bytes queued on the data socket before the writer waits for it to drain: the socket always
 * has the next bytes ready while the source produces more, without a stream in between.
 */
export const QUEUE_AHEAD = 1 << 20;

/** Wraps an error thrown by the data being written, so it is not mistaken for a server error. */
export class DataError extends Error {
  constructor(readonly inner: unknown) {
    super('data failed');
  }
}

/**
 * `STOR remotePath` with the chunks of `source`, written to the data socket by hand.
 *
 * Why not basic-ftp's `uploadFrom`: it needs a Readable, and wrapping the AsyncIterable in
 * `Readable.from` (with a 1 MiB read-ahead) + `pipeline` cost promise hops and stream
 * bookkeeping on every chunk. Writing each chunk straight to the socket, with up to
 * QUEUE_AHEAD bytes queued as the read-ahead, measured on 1 GiB plain uploads to a local
 * pure-ftpd, data from memory, 6 interleaved runs each (fresh process, process.cpuUsage()):
 * user CPU 0.41–0.47 s -> 0.20–0.34 s with 1 MiB chunks (what the pipeline hands destinations),
 * 0.45–0.54 s -> 0.33–0.43 s with 64 KiB chunks; wall time lower in 12 of 12 pairs.
 * basic-ftp still negotiates the data connection (EPSV/PASV, TLS session reuse) and reads
 * the control replies.
 *
 * Contract: resolves once the data socket is finished AND the server confirmed the transfer
 * (2xx). MUST reject on any failure (server reply >= 400, data or control socket error or
 * close, stalled server for `client.ftp.timeout` ms, closed client e.g. on abort); errors of
 * `source` itself are rejected as {@link DataError}. `recycle`, when given, receives each chunk
 * once the socket no longer needs it. After a rejection the client's state is
 * unknown: the caller closes it. `source` is not closed here (the caller's `return()` does it).
 */
export async function storeFrom(
  client: Client,
  source: AsyncIterator<Uint8Array>,
  remotePath: string,
  onChunk: (bytes: number) => void,
  recycle?: (chunk: Uint8Array) => void,
): Promise<FTPResponse> {
  const ftp = client.ftp;
  const path = await client.protectWhitespace(remotePath);
  await client.prepareTransfer(ftp);
  let settled = false;
  let started = false;
  let dataDone = false;
  let reply: FTPResponse | undefined;
  /** Wakes the writer waiting for `drain`/`finish`; on failure with the error. */
  let wake: ((err?: unknown) => void) | undefined;
  let watchdog: NodeJS.Timeout | undefined;

  const waitFor = (ds: Socket, event: 'drain' | 'finish' | 'secureConnect', start?: () => void) =>
    new Promise<void>((resolve, reject) => {
      wake = (err) => {
        wake = undefined;
        if (err === undefined) resolve();
        else reject(err);
      };
      // basic-ftp removes all listeners of a data socket it closes: `fail` wakes us instead.
      ds.once(event, () => wake?.());
      start?.();
    });

  return ftp.handle(`STOR ${path}`, (res, task) => {
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      const err = e instanceof Error ? e : new Error(`upload failed: ${String(e)}`);
      clearInterval(watchdog);
      ftp.socket.setTimeout(ftp.timeout);
      ftp.dataSocket = undefined; // closes it
      wake?.(err);
      task.reject(err);
    };
    const tryResolve = () => {
      if (settled || !dataDone || !reply) return;
      settled = true;
      ftp.dataSocket = undefined;
      task.resolve(reply);
    };
    if (res instanceof Error) return fail(res);
    if (res.code === 150 || res.code === 125) {
      // Only the first preliminary reply starts the transfer (a second would write the data twice).
      if (started) return;
      started = true;
      const ds = ftp.dataSocket as Socket | undefined;
      if (!ds) return fail(new Error('Upload should begin but no data connection is available.'));
      write(ds).then(() => {
        if (settled) return; // failed meanwhile: the client is being closed, leave it alone
        clearInterval(watchdog);
        ftp.socket.setTimeout(ftp.timeout);
        dataDone = true;
        tryResolve();
      }, fail);
    } else if (res.code >= 200 && res.code < 300) {
      reply = res;
      tryResolve();
    } else if (res.code >= 300 && res.code < 400) {
      ftp.closeWithError(new Error(`Unexpected FTP response is requesting an answer: ${res.message}`));
    }
  });

  async function write(ds: Socket): Promise<void> {
    // Over TLS the data socket must finish its handshake (resuming the control session) first.
    if ('getCipher' in ds && !(ds as unknown as { getCipher(): unknown }).getCipher()) await waitFor(ds, 'secureConnect');
    // The control connection idles during the transfer; the data side is watched instead.
    ftp.socket.setTimeout(0);
    ds.setTimeout(0);
    watchdog = stallWatchdog(ds, ftp.timeout, () => ftp.closeWithError(new Error('Timeout (data socket)')));
    for (;;) {
      let step: IteratorResult<Uint8Array>;
      try {
        step = await source.next();
      } catch (e) {
        throw new DataError(e);
      }
      if (settled) return;
      if (step.done) break;
      const chunk = step.value;
      onChunk(chunk.byteLength);
      // The write callback runs once the socket is done with the chunk (handed to the kernel,
      // or encrypted by TLS): only then may its producer reuse it (see Recyclable in @arca/core).
      if (recycle) ds.write(chunk, (err) => err || recycle(chunk));
      else ds.write(chunk);
      if (ds.writableLength >= QUEUE_AHEAD) await waitFor(ds, 'drain');
    }
    await waitFor(ds, 'finish', () => ds.end());
  }
}

/**
 * Calls `onStall` when the server accepted none of our queued bytes for `timeoutMs` (like
 * basic-ftp's own TransferWatchdog): a slow source is not a stall, only a server that stopped
 * reading while we have data waiting is.
 */
function stallWatchdog(ds: Socket, timeoutMs: number, onStall: () => void): NodeJS.Timeout | undefined {
  if (timeoutMs <= 0) return undefined;
  const every = Math.max(1, Math.min(Math.floor(timeoutMs / 4), 500));
  // bytesWritten counts what write() accepted, writableLength what the kernel has not taken yet.
  const sent = () => ds.bytesWritten - ds.writableLength;
  let last = sent();
  let idle = 0;
  const timer = setInterval(() => {
    const now = sent();
    if (now !== last || ds.writableLength === 0) {
      last = now;
      idle = 0;
      return;
    }
    idle += every;
    if (idle >= timeoutMs) {
      clearInterval(timer);
      onStall();
    }
  }, every);
  timer.unref();
  return timer;
}

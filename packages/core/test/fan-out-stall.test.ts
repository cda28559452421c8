import { describe, expect, it } from 'vitest';
import { fanOut } from '../src/pipeline/fan-out.js';

async function* twoChunks(): AsyncIterable<Uint8Array> {
  yield Buffer.alloc(1 << 20, 1);
  yield Buffer.alloc(1 << 20, 2);
}

describe('fanOut stall detection', () => {
  it('detaches a consumer that takes nothing even when the input ends before its queue fills', async () => {
    let aborted = false;
    const t0 = Date.now();
    const { results, inputError } = await fanOut(
      twoChunks(),
      [
        {
          name: 'ok',
          consume: async (data) => {
            let n = 0;
            for await (const c of data) n += c.byteLength;
            return n;
          },
        },
        {
          name: 'stuck',
          // Never reads; gives up only when the fan-out aborts it.
          consume: (_data, signal) =>
            new Promise<number>((_, reject) =>
              signal.addEventListener('abort', () => {
                aborted = true;
                reject(new Error('aborted'));
              }),
            ),
        },
      ],
      { stallTimeoutMs: 200 },
    );
    expect(inputError).toBeUndefined();
    expect(results.get('ok')).toEqual({ ok: true, value: 2 << 20 });
    const stuck = results.get('stuck')!;
    expect(stuck.ok).toBe(false);
    expect((stuck as { error: { code: string } }).error.code).toBe('DEST_STALLED');
    expect(aborted).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
  });
});

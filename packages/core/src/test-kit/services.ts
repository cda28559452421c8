import { describe, it } from 'vitest';

/**
 * Gate a test group on a real service (PostgreSQL, sshd, an S3 server...). `probe` resolves
 * `undefined` when the service is usable, or a reason when it is not. Locally a missing
 * service skips the group with a loud warning; with `CI=true` it is a failing test, so CI
 * can never go green by skipping.
 */
export async function describeWithService(name: string, probe: () => Promise<string | undefined>, body: () => void): Promise<void> {
  let reason: string | undefined;
  try {
    reason = await probe();
  } catch (e) {
    reason = (e as Error).message;
  }
  if (reason === undefined) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true' || process.env.CI === '1') {
    describe(name, () => {
      it(`needs its service: ${reason}`, () => {
        throw new Error(`${name}: required service unavailable under CI: ${reason}`);
      });
    });
    return;
  }
  console.warn(`\n⚠️  SKIPPING "${name}": ${reason}. (Under CI=true this fails.)\n`);
  describe.skip(name, body);
}

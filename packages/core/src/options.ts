import type { z } from 'zod';
import { ArcaError, ErrorCodes } from './errors.js';

/** Format zod issues as `path: message` lines, without echoing values (they may be secrets). */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      // zod reports a bad record key as "Invalid key in record": show why the key is bad instead.
      const nested = (i as { issues?: Array<{ message: string }> }).issues;
      const message = i.code === 'invalid_key' && nested?.length ? nested.map((n) => n.message).join('; ') : i.message;
      return `  - ${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${message}`;
    })
    .join('\n');
}

/** Validate adapter options at construction; throws `CONFIG_INVALID` listing every problem. */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, `Invalid options for ${what}:\n${formatIssues(r.error)}`);
  }
  return r.data;
}

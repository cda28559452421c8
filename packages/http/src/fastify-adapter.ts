import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ArcaHandler } from './arca-handler.js';
import { sendWebResponse, toWebRequest } from './node-adapter.js';

interface FastifyLikeRequest {
  raw: IncomingMessage;
  body?: unknown;
}
interface FastifyLikeReply {
  raw: ServerResponse;
  hijack(): unknown;
}
/**
 * The parts of a Fastify 4/5 instance the plugin uses (no import of fastify: it stays
 * optional). Loosely typed on purpose: Fastify's overloaded generic signatures are not
 * assignable to any narrower structural type.
 */
export interface FastifyLikeInstance {
  removeAllContentTypeParsers(): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  addContentTypeParser(...args: any[]): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  all(...args: any[]): unknown;
}

/**
 * A Fastify 4/5 plugin: `await app.register(arcaFastify(handler))` serves `handler.basePath`
 * and everything below it. Inside its own (encapsulated) context it replaces Fastify's body
 * parsers by a pass-through, so form posts and JSON reach the handler as streams, and it
 * hijacks the reply to stream downloads and SSE with backpressure. Put the host's
 * authentication in an `onRequest` hook of a parent context, or in `authorize`.
 */
export function arcaFastify(handler: ArcaHandler) {
  return async function arcaPlugin(fastify: FastifyLikeInstance): Promise<void> {
    fastify.removeAllContentTypeParsers();
    fastify.addContentTypeParser('*', async (_request: unknown, payload: IncomingMessage) => payload);
    const route = async (request: FastifyLikeRequest, reply: FastifyLikeReply) => {
      reply.hijack();
      const body = request.body instanceof Readable ? request.body : undefined;
      const webRequest = toWebRequest(request.raw, reply.raw, body ? { body } : {});
      await sendWebResponse(reply.raw, await handler(webRequest));
    };
    fastify.all(handler.basePath || '/', route);
    fastify.all(`${handler.basePath}/*`, route);
  };
}

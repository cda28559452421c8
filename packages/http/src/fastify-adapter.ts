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
/** The parts of a Fastify 4/5 instance the plugin uses (no import of fastify: it stays optional). */
export interface FastifyLikeInstance {
  removeAllContentTypeParsers(): unknown;
  addContentTypeParser(contentType: string, parser: (request: never, payload: IncomingMessage) => Promise<unknown>): unknown;
  all(path: string, handler: (request: FastifyLikeRequest, reply: FastifyLikeReply) => Promise<void>): unknown;
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
    fastify.addContentTypeParser('*', async (_request, payload) => payload);
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

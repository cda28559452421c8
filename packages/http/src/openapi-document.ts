import { z } from 'zod';
import type { ApiRoute } from './api-routes.js';

const schemaOf = (s: z.ZodType, io: 'input' | 'output' = 'input') => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};

const ERROR = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, correlationId: { type: 'string' } } } },
};

const CONTENT: Record<NonNullable<ApiRoute['produces']>, string> = {
  json: 'application/json',
  'octet-stream': 'application/octet-stream',
  'event-stream': 'text/event-stream',
  csv: 'text/csv',
};

/**
 * The OpenAPI 3.1 document of the JSON API, generated from the route table and the same zod
 * schemas that validate the requests (path parameters, query strings, bodies).
 */
export function openApiDocument(routes: ApiRoute[], o: { basePath: string; version: string; title: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const parameters: unknown[] = [];
    if (r.params) {
      for (const [name, s] of Object.entries(r.params.shape)) parameters.push({ name, in: 'path', required: true, schema: schemaOf(s as z.ZodType) });
    }
    if (r.query) {
      const js = schemaOf(r.query) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, s] of Object.entries(js.properties ?? {})) {
        parameters.push({ name, in: 'query', required: js.required?.includes(name) ?? false, schema: s });
      }
    }
    const produces = r.produces ?? 'json';
    const op: Record<string, unknown> = {
      operationId: r.id,
      summary: r.summary,
      'x-arca-action': r.action,
      parameters,
      responses: {
        [r.id === 'runJob' ? '202' : '200']: { description: 'OK', content: { [CONTENT[produces]]: { schema: produces === 'json' ? { type: 'object' } : { type: 'string' } } } },
        '400': { description: 'Invalid id, name or body (KEY_INVALID)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        '403': { description: 'Not allowed by authorize(), or CSRF check failed', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        '404': { description: 'Unknown job, backup, file or run (NOT_FOUND)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        '409': { description: 'The job is running (LOCKED)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        '500': { description: 'Unexpected error, with a correlation id for the server log', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
    if (r.body) op.requestBody = { required: false, content: { 'application/json': { schema: schemaOf(r.body) } } };
    if (r.method !== 'GET') op.description = 'CSRF: send `Content-Type: application/json` or an `X-Arca-Request: 1` header.';
    const key = `${o.basePath}${r.path}`;
    (paths[key] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: `${o.title} API (Arca)`, version: o.version },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: { schemas: { Error: ERROR } },
  };
}

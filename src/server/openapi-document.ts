/**
 * The OpenAPI document, made by @fastify/swagger from the routes ./openapi.ts recorded. Loaded
 * on the first `GET /api/v1/openapi.json` only: @fastify/swagger, its reference resolver and
 * the YAML library it loads are about 400 KB of code a server otherwise never runs.
 *
 * The plugin is run against a stand-in for the app that takes its hooks and its decorator;
 * the recorded routes are then given to its onRoute hook in their order and its onReady hook
 * runs, as they would have at start-up (the app is ready by the time a request arrives).
 */
import fastifySwagger from '@fastify/swagger';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { VERSION } from '../core/version.js';

type Hook = (...args: unknown[]) => unknown;

export async function buildOpenApiDocument(app: FastifyInstance, routes: readonly RouteOptions[]): Promise<string> {
  const hooks = new Map<string, Hook[]>();
  let swagger: (() => unknown) | undefined;
  const standIn = {
    addHook: (name: string, hook: Hook) => void hooks.set(name, [...(hooks.get(name) ?? []), hook]),
    decorate: (name: string, value: () => unknown) => {
      if (name === 'swagger') swagger = value;
    },
    getSchemas: () => app.getSchemas(),
  };
  await new Promise<void>((resolve, reject) => {
    (fastifySwagger as unknown as (f: unknown, o: unknown, done: (err?: Error) => void) => void)(standIn, swaggerOptions(), (err) => (err ? reject(err) : resolve()));
  });
  for (const route of routes) for (const hook of hooks.get('onRoute') ?? []) hook(route);
  for (const hook of hooks.get('onReady') ?? []) await new Promise<void>((resolve) => void hook(resolve));
  if (!swagger) throw new Error('@fastify/swagger did not provide its document function');
  return JSON.stringify(swagger());
}

function swaggerOptions(): Parameters<typeof fastifySwagger>[1] {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Ferry API',
        version: VERSION,
        description: 'The native HTTP protocol of Ferry (docs/protocol.md). Errors are JSON `{error: {code, message}}` with a stable `FERRY_ERR_...` code; a request that does not match its schema gets 400 `FERRY_ERR_VALIDATION`.',
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API token (`ferry token create`) or a web-session access token' } } },
      security: [{ bearer: [] }],
    },
    exposeHeadRoutes: true,
    // `*` (the rest of the path) is `{path}` in OpenAPI.
    transform: ({ schema, url }) => {
      if (!url.includes('*')) return { schema, url };
      const s = { ...(schema as Record<string, unknown>) };
      const params = s.params as { properties?: Record<string, unknown>; required?: string[] } | undefined;
      if (params?.properties?.['*']) {
        const { '*': rest, ...others } = params.properties;
        s.params = { ...params, properties: { ...others, path: rest }, required: [...(params.required ?? []).filter((n) => n !== '*'), 'path'] };
      }
      return { schema: s as typeof schema, url: url.replace('*', '{path}') };
    },
  } as Parameters<typeof fastifySwagger>[1];
}

/**
 * Request validation from the route schemas (./api-schemas.ts) and the OpenAPI document
 * generated from the same schemas by @fastify/swagger.
 *
 * Validators are compiled on a route's first request, not at start-up, and ajv itself is
 * loaded on the first one: compiling every route's schema up front cost start-up time for
 * routes a server may never see.
 * A body schema marked optional (TypeBox `Type.Optional`) accepts a request without a body
 * (Fastify gives such a request a null or undefined body).
 */
import fastifySwagger from '@fastify/swagger';
import { createRequire } from 'node:module';
import type { Ajv as AjvType, ValidateFunction } from 'ajv';
import type { FastifyInstance } from 'fastify';
import { VERSION } from '../core/version.js';
import { bodyIsOptional, schemaOf, describedElsewhere } from './api-schemas.js';

export async function installApiSchemas(app: FastifyInstance): Promise<void> {
  let ajv: AjvType | undefined;
  app.setValidatorCompiler(({ schema, httpPart, method, url }) => {
    let compiled: ValidateFunction | undefined;
    const optionalBody = httpPart === 'body' && bodyIsOptional(method, url);
    const validate = (data: unknown): boolean => {
      if ((data === undefined || data === null) && optionalBody) return true;
      // Loaded on the first request that has a schema to check (ajv costs start-up time).
      ajv ??= new (createRequire(import.meta.url)('ajv') as { Ajv: typeof AjvType }).Ajv({ coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, strict: false });
      compiled ??= ajv.compile(schema);
      const ok = compiled(data);
      (validate as unknown as { errors: unknown }).errors = compiled.errors;
      return ok;
    };
    return validate;
  });
  // Responses are serialized as they are: response schemas document, they never filter.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  // Every route gets its schema from the one table as it is registered.
  app.addHook('onRoute', (route) => {
    const method = Array.isArray(route.method) ? route.method[0] : route.method;
    route.schema ??= schemaOf(method, route.url) ?? (describedElsewhere(method, route.url) ? { hide: true } : undefined);
  });

  await app.register(fastifySwagger, {
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
  } as Parameters<typeof fastifySwagger>[1]);
}

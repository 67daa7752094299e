/**
 * Request validation from the route schemas (./api-schemas.ts, read as JSON at start:
 * ./route-schemas.ts) and the OpenAPI document generated from the same schemas by
 * @fastify/swagger.
 *
 * Validators are compiled on a route's first request, not at start-up, and ajv itself is
 * loaded on the first one: compiling every route's schema up front cost start-up time for
 * routes a server may never see. Fastify's own compilers (@fastify/ajv-compiler,
 * fast-json-stringify) are replaced through `schemaCompilers`, so they are never loaded.
 * The OpenAPI document is made on its first request (./openapi-document.ts loads
 * @fastify/swagger, its reference resolver and a YAML library): a start only records the
 * routes, in the order @fastify/swagger would have seen them.
 * A body schema marked optional (TypeBox `Type.Optional`) accepts a request without a body
 * (Fastify gives such a request a null or undefined body).
 */
import { createRequire } from 'node:module';
import type { Ajv as AjvType, ErrorObject, ValidateFunction } from 'ajv';
import type { FastifyInstance, FastifySchemaCompiler, RouteOptions } from 'fastify';
import { describedElsewhere, routeSchemaTable } from './route-schemas.js';

/**
 * A validator compiler of one app: ajv is loaded and each schema compiled on the first
 * request that needs it. `optionalBodies`: `METHOD URL` of the routes whose body may be absent.
 */
function lazyValidatorCompiler(optionalBodies: ReadonlySet<string>): FastifySchemaCompiler<unknown> {
  let ajv: AjvType | undefined;
  return ({ schema, httpPart, method, url }) => {
    let compiled: ValidateFunction | undefined;
    const optionalBody = httpPart === 'body' && optionalBodies.has(`${method} ${url}`);
    const validate = (data: unknown): boolean => {
      if ((data === undefined || data === null) && optionalBody) return true;
      // Loaded on the first request that has a schema to check (ajv costs start-up time).
      ajv ??= new (createRequire(import.meta.url)('ajv') as { Ajv: typeof AjvType }).Ajv({ coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, strict: false });
      compiled ??= ajv.compile(schema as object);
      const ok = compiled(data);
      (validate as unknown as { errors: unknown }).errors = compiled.errors && oneOfConstants(compiled.errors, data);
      return ok;
    };
    return validate;
  };
}

/**
 * A value outside a list of names (TypeBox's union of literals, an `anyOf` of `const`s)
 * fails each branch, and ajv reports every one: "body/events/0 must be equal to constant"
 * ten times, then "must match a schema in anyOf", which names neither the value nor the
 * names allowed. Such a group becomes one error that says both.
 */
function oneOfConstants(errors: ErrorObject[], data: unknown): ErrorObject[] {
  const out: ErrorObject[] = [];
  for (const e of errors) {
    // ajv reports the branches' errors before the anyOf's own
    const branches = e.keyword === 'anyOf' ? out.filter((b) => b.schemaPath.startsWith(`${e.schemaPath}/`)) : [];
    const constants = branches.length > 0 && branches.every((b) => b.keyword === 'const' && b.instancePath === e.instancePath);
    if (!constants) {
      out.push(e);
      continue;
    }
    const allowed = branches.map((b) => String((b.params as { allowedValue: unknown }).allowedValue));
    const given = JSON.stringify(valueAt(data, e.instancePath)) ?? 'nothing';
    const message = `is ${given.length > 60 ? `${given.slice(0, 57)}...` : given}: must be one of ${allowed.join(', ')}`;
    out.splice(out.indexOf(branches[0]), branches.length, { ...e, message, params: { allowedValues: allowed } });
  }
  return out;
}

/** The value a JSON pointer (ajv's `instancePath`) names in `data`. */
function valueAt(data: unknown, pointer: string): unknown {
  let v = data;
  for (const part of pointer.split('/').slice(1)) {
    const key = part.replaceAll('~1', '/').replaceAll('~0', '~');
    v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  }
  return v;
}

// Responses are serialized as they are: response schemas document, they never filter.
const serializerCompiler = () => (data: unknown) => JSON.stringify(data);

/**
 * Fastify's `schemaController` option: these compilers instead of Fastify's defaults, so
 * @fastify/ajv-compiler and fast-json-stringify are never loaded (and scripts/bundle.mjs keeps
 * them out of the server's chunk: ~0.6 MB of source V8 would parse and hold at every start).
 */
export const schemaCompilers = {
  // installApiSchemas sets the app's own validator compiler (with its optional bodies) before any route.
  compilersFactory: { buildValidator: () => lazyValidatorCompiler(new Set()), buildSerializer: () => serializerCompiler },
};

export async function installApiSchemas(app: FastifyInstance): Promise<void> {
  const table = await routeSchemaTable();
  app.setValidatorCompiler(lazyValidatorCompiler(new Set(table.optionalBodies)));
  app.setSerializerCompiler(serializerCompiler);

  // Every route gets its schema from the one table as it is registered (none: the route is
  // not described, which test/server/openapi.test.ts refuses).
  app.addHook('onRoute', (route) => {
    const method = Array.isArray(route.method) ? route.method[0] : route.method;
    route.schema ??= table.schemas[`${method} ${route.url}`] ?? (describedElsewhere(method, route.url) ? { hide: true } : undefined);
  });
  const routes: RouteOptions[] = [];
  app.addHook('onRoute', (route) => {
    routes.push(route);
  });
  // Made once, on the first request (concurrent first requests share it); route modules are
  // encapsulated plugins, so they reach it through a decorator they inherit.
  let document: Promise<string> | undefined;
  const make = (): Promise<string> => {
    if (document) return document;
    const made = import('./openapi-document.js').then(({ buildOpenApiDocument }) => buildOpenApiDocument(app, routes));
    // A failure is not kept: the next request tries again.
    made.catch(() => {
      if (document === made) document = undefined;
    });
    return (document = made);
  };
  app.decorate(DOCUMENT, make);
}

const DOCUMENT = 'ferryOpenApiDocument';

/** The OpenAPI document (JSON text) of the app this instance belongs to. */
export function openApiDocument(app: FastifyInstance): Promise<string> {
  return (app as unknown as Record<typeof DOCUMENT, () => Promise<string>>)[DOCUMENT]();
}

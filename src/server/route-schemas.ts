/**
 * The route schemas as the server uses them: plain JSON Schema objects, keyed by `METHOD URL`.
 * They are written in TypeBox (./api-schemas.ts) and turned into JSON when the server is
 * built (scripts/route-schemas.mjs writes route-schemas.json beside the compiled module and
 * the bundle): a start reads that file instead of evaluating TypeBox's ~110 modules and
 * building every schema with them. An idle server's old space is 0.5 MiB smaller for it,
 * its RSS 0.9 MiB (benchmarks/results/issue-15-speed.md, branch idle2); the parsed table is
 * 0.17 MiB of heap. JSON shares no object between routes where TypeBox's schemas did (ajv
 * then compiles a schema common to several routes once per route, on each one's first
 * request); interning equal parts at load saved 0.1 MiB for ~2.5 ms of start: not done.
 *
 * Run from the TypeScript sources (tests), there is no such file: the table is made from
 * ./api-schemas.ts then, the same function the build runs, so both give the same document.
 */
import { readFile } from 'node:fs/promises';
import type { FastifySchema } from 'fastify';

export interface RouteSchemaTable {
  /** `METHOD URL` -> the route's Fastify schema (validation and the OpenAPI document). */
  schemas: Record<string, FastifySchema>;
  /**
   * `METHOD URL` of the routes whose body may be absent (TypeBox `Type.Optional` on the body,
   * a mark JSON cannot carry: it is a symbol on the schema object).
   */
  optionalBodies: string[];
}

/** The file's name, beside this module in dist/src/server and in dist/bundle. */
export const ROUTE_SCHEMAS_FILE = 'route-schemas.json';

/**
 * The table, from the built JSON, else made from the TypeBox sources. A new copy at each call,
 * owned by the app that asked: Fastify marks and amends the schema objects it is given.
 */
export function routeSchemaTable(): Promise<RouteSchemaTable> {
  return readFile(new URL(`./${ROUTE_SCHEMAS_FILE}`, import.meta.url), 'utf8').then(
    (text) => JSON.parse(text) as RouteSchemaTable,
    async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      const { buildRouteSchemaTable } = await import('./api-schemas.js');
      return buildRouteSchemaTable();
    },
  );
}

/**
 * WebDAV (`/dav`): its methods (PROPFIND, LOCK, MKCOL, ...) have no place in OpenAPI, whose
 * operations are the HTTP methods of RFC 9110; RFC 4918 and docs/protocol.md describe it.
 * `OPTIONS /` and `PROPFIND /` are the share's too (for clients given the server's address,
 * src/server/dav/index.ts).
 */
export function describedElsewhere(method: string, url: string): boolean {
  return /^\/dav(\/|$)/.test(url) || ((method === 'OPTIONS' || method === 'PROPFIND') && url === '/');
}

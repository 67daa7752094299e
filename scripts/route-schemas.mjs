// Writes the route schemas (src/server/api-schemas.ts, TypeBox) as JSON beside their compiled
// reader, dist/src/server/route-schemas.json (scripts/bundle.mjs copies it into dist/bundle):
// a server start then parses JSON instead of evaluating TypeBox and building every schema
// with it (see src/server/route-schemas.ts). Runs after tsc, before the bundle.
import { writeFileSync } from 'node:fs';

const { buildRouteSchemaTable } = await import('../dist/src/server/api-schemas.js');
const { ROUTE_SCHEMAS_FILE } = await import('../dist/src/server/route-schemas.js');
writeFileSync(`dist/src/server/${ROUTE_SCHEMAS_FILE}`, JSON.stringify(buildRouteSchemaTable()));

/** The namespace (docs/protocol.md, "Namespace"): stat, list, mkdir, move, copy, delete. */
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../core/errors.js';
import { normalizePath } from '../../core/path.js';
import { API_PREFIX, type ListResponse } from '../../core/protocol.js';
import type { ServerContext } from '../app.js';
import { bodyPath, wildcardPath } from '../validate.js';

type Query = Record<string, string | undefined>;

function flag(q: Query, name: string): boolean {
  const v = q[name];
  if (v === undefined) return false;
  if (v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ValidationError(`${name} must be true or false`);
}

export function registerNamespaceRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { meta, limits } = ctx;

  const stat = async (request: Parameters<typeof wildcardPath>[0]) => meta.stat(wildcardPath(request));
  app.get(`${API_PREFIX}/stat`, stat);
  app.get(`${API_PREFIX}/stat/*`, stat);

  const list = async (request: Parameters<typeof wildcardPath>[0]): Promise<ListResponse> => {
    const path = wildcardPath(request);
    const q = request.query as Query;
    let limit = limits.maxListLimit;
    if (q.limit !== undefined) {
      limit = Number(q.limit);
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > limits.maxListLimit) throw new ValidationError(`limit must be an integer from 1 to ${limits.maxListLimit}`);
    }
    const cursor = q.cursor === undefined ? undefined : normalizePath(q.cursor);
    // chunks=true: small files come with their chunk lists, for POST /chunks/batch.
    const chunkListsUpTo = flag(q, 'chunks') ? limits.maxBatchBytes : undefined;
    const page = await meta.list(path, { recursive: flag(q, 'recursive'), limit, cursor, chunkListsUpTo });
    return { path, ...page };
  };
  app.get(`${API_PREFIX}/list`, list);
  app.get(`${API_PREFIX}/list/*`, list);

  app.post(`${API_PREFIX}/mkdir/*`, async (request, reply) => {
    const entry = await meta.mkdir(wildcardPath(request), { parents: flag(request.query as Query, 'parents') });
    return reply.status(201).send(entry);
  });

  const moveOrCopy = (op: 'move' | 'copy') => async (request: { body: unknown }) => {
    const body = request.body as Record<string, unknown> | null;
    if (body === null || typeof body !== 'object') throw new ValidationError('the body must be {from, to}');
    const from = bodyPath(body.from, 'from');
    const to = bodyPath(body.to, 'to');
    if (body.overwrite !== undefined && typeof body.overwrite !== 'boolean') throw new ValidationError('overwrite must be a boolean');
    const overwrite = body.overwrite as boolean | undefined;
    return op === 'move' ? meta.move(from, to, { overwrite }) : meta.copy(from, to, { overwrite });
  };
  app.post(`${API_PREFIX}/move`, moveOrCopy('move'));
  app.post(`${API_PREFIX}/copy`, moveOrCopy('copy'));

  app.delete(`${API_PREFIX}/files/*`, async (request, reply) => {
    await meta.remove(wildcardPath(request), { recursive: flag(request.query as Query, 'recursive') });
    return reply.status(204).send();
  });
}

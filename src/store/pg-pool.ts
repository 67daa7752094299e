/**
 * The pool of PostgreSQL connections Kysely gets: pg's Pool, with the failures that mean "the
 * database is not there right now" turned into FERRY_ERR_UNAVAILABLE (503 with `Retry-After`
 * at the HTTP edge, retried by Ferry's clients) instead of the driver's errors, which reached
 * clients as a 502 FERRY_ERR_NETWORK (a refused connection) or a 500 (a connection ended
 * mid-query by a restart).
 *
 * pg's pool needs nothing else to live through a restart: a connection that ended (idle or
 * in use) is dropped when it is given back, and the next `connect` opens a new one, so the
 * first request after the database is back works (test/server/postgres-outage.test.ts).
 */
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import { UnavailableError } from '../core/errors.js';

/** What a client reads (public: no host, no port; the cause keeps the driver's error). */
export const DATABASE_UNAVAILABLE = 'the metadata database does not answer; try again shortly';
/** The `Retry-After` of that answer. */
const RETRY_AFTER_MS = 2000;

/**
 * SQLSTATEs of a connection the server ended or would not take: class 08 (connection
 * exception), 57P01 admin_shutdown (`pg_ctl stop -m fast`, a restart), 57P02 crash_shutdown,
 * 57P03 cannot_connect_now (starting up, shutting down, in recovery).
 */
const GONE_SQLSTATE = /^(08...|57P0[123])$/;
/** Node's errors of a socket that could not connect or was cut. */
const GONE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/**
 * pg's own errors without a code: a connection that ended under a query ("Connection
 * terminated unexpectedly", "Connection terminated"), a client used after it ended ("Client
 * has encountered a connection error and is not queryable"), a connect past
 * `connectionTimeoutMillis` ("timeout exceeded when trying to connect"), a query past its
 * `query_timeout` ("Query read timeout").
 */
const GONE_MESSAGE = /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|Query read timeout)/;
/** pg's error of a query unanswered for its `query_timeout`. */
const TIMED_OUT = /^Query read timeout/;

/** Whether `err` says the database was unreachable or went away (not that a statement failed). */
export function isDatabaseGone(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return GONE_SQLSTATE.test(code) || GONE_ERRNO.has(code);
  return err instanceof Error && GONE_MESSAGE.test(err.message);
}

function translate(err: unknown): unknown {
  return isDatabaseGone(err) ? new UnavailableError(DATABASE_UNAVAILABLE, { cause: err, retryAfterMs: RETRY_AFTER_MS }) : err;
}

/**
 * `pool` as Kysely's PostgresPool, its unreachable-database failures as UnavailableError.
 * With `queryTimeoutMs()` above 0, a query unanswered that long fails (pg's `query_timeout`)
 * instead of waiting for a database that hangs (a frozen host; a network that drops packets,
 * where TCP gives up only after many minutes), and its connection is dropped when given
 * back: it may still be inside that query or an open transaction.
 */
export function unavailableAware(pool: PostgresPool, queryTimeoutMs: () => number = () => 0): PostgresPool {
  return {
    connect: async () => {
      let client: PostgresPoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw translate(err);
      }
      // pg's pool gives each checkout its own `release`: one that passes an error ends the client.
      const release = client.release.bind(client) as (err?: Error) => void;
      (client as { release: (err?: Error) => void }).release = (err?: Error) =>
        release(err ?? (stuck.has(client) ? new Error('a query of this connection timed out') : undefined));
      return withTranslatedQueries(client, queryTimeoutMs);
    },
    end: () => pool.end(),
  };
}

/** Clients whose `query` translates already (the pool hands the same client out again and again). */
const translating = new WeakSet<PostgresPoolClient>();
/** Clients a query of which timed out: not to be used again. */
const stuck = new WeakSet<PostgresPoolClient>();

function withTranslatedQueries(client: PostgresPoolClient, queryTimeoutMs: () => number): PostgresPoolClient {
  if (translating.has(client)) return client;
  translating.add(client);
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const translated = (...args: unknown[]): unknown => {
    const limit = queryTimeoutMs();
    // Kysely's statements come as (text, values); with a limit, as pg's query config.
    const r = limit > 0 && typeof args[0] === 'string' ? query({ text: args[0], values: args[1], query_timeout: limit }) : query(...args);
    // A cursor (Kysely's streaming) is returned as it is; a query's promise fails translated.
    return r instanceof Promise
      ? r.catch((err: unknown) => {
          if (err instanceof Error && TIMED_OUT.test(err.message)) stuck.add(client);
          return Promise.reject(translate(err));
        })
      : r;
  };
  client.query = translated as PostgresPoolClient['query'];
  return client;
}

/**
 * Ferry through its CLI (`node bin/ferry.js`, process start included: what a user runs),
 * against its own server. Trees go through `ferry sync` when the CLI has it, else
 * `ferry put -r` (which skips files of equal size and mtime, like rsync's quick check).
 * Concurrent clients are driven by one process of the SDK (ferry-load.ts): 200 Node
 * processes would measure Node's start-up 200 times over on the 2 shared cores.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Command } from '../lib/measure.js';
import { FERRY_BIN, benchScript } from '../peers/ferry-bin.js';
import type { FerryServer } from '../peers/ferry.js';
import { manyName } from './curl.js';
import type { StepKind, Tool } from './tool.js';

export type TreeCommand = 'sync' | 'put -r';

/**
 * `ferry sync` once the sync engine is on this branch; `ferry put -r` until then.
 * `FERRY_BENCH_TREE=put` measures `put -r`/`get -r` instead (to compare the two tree paths).
 */
export function ferryTreeCommand(): TreeCommand {
  if (process.env.FERRY_BENCH_TREE === 'put') return 'put -r';
  // An unknown command prints the top-level help (and exits 0): look for the command's own usage line.
  const r = spawnSync(process.execPath, [FERRY_BIN, 'sync', '--help'], { encoding: 'utf8' });
  return /Usage: ferry sync /.test(r.stdout ?? '') ? 'sync' : 'put -r';
}

export interface FerryToolOptions {
  id: string;
  label: string;
  server: FerryServer;
  /** For FERRY_CONFIG: a file that does not exist keeps the user's config out. */
  workDir: string;
  treeCommand: TreeCommand;
  /** Node options for the client processes (`--cpu-prof ...` when profiling). */
  nodeArgs?: string[];
}

export interface FerryCounters {
  received: number;
  served: number;
}

/** Chunk bytes a ferry server has received and served so far (its Prometheus counters). */
export async function ferryCounters(server: FerryServer): Promise<FerryCounters> {
  const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.token}` } });
  if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
  const text = await res.text();
  const read = (name: string) => {
    let sum = 0;
    for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
    return sum;
  };
  // What travelled: chunk and pack bodies as sent (compressed, or as deltas), and chunk
  // answers as sent (whole-file answers in plain bytes, or as stored frames).
  // Servers before issue 15 have no wire counters: their bodies travelled as plain bytes.
  const wire = text.includes('ferry_chunk_wire_bytes_received_total');
  return {
    received: read(wire ? 'ferry_chunk_wire_bytes_received_total' : 'ferry_chunk_body_bytes_received_total'),
    served: read(wire ? 'ferry_chunk_wire_bytes_sent_total' : 'ferry_chunk_bytes_served_total'),
  };
}

export function ferryTool(o: FerryToolOptions): Tool {
  const env: NodeJS.ProcessEnv = { ...process.env, FERRY_SERVER: o.server.url, FERRY_TOKEN: o.server.token, FERRY_CONFIG: join(o.workDir, 'no-such-config.json') };
  const ferry = (...args: string[]): Command => ({ cmd: process.execPath, args: [...(o.nodeArgs ?? []), FERRY_BIN, ...args], env });
  const remote = (name: string) => `/${name}`;
  return {
    id: o.id,
    label: o.label,
    server: o.server,
    isFerry: true,
    upload: (local, name) => ferry('put', '-q', '--json', local, remote(name)),
    download: (name, local) => ferry('get', '-q', '--json', remote(name), local),
    uploadTree: (localDir, name) => (o.treeCommand === 'sync' ? ferry('sync', '--json', localDir, `ferry:${remote(name)}`) : ferry('put', '-r', '-q', '--json', localDir, remote(name))),
    downloadTree: (name, localDir) => (o.treeCommand === 'sync' ? ferry('sync', '--json', `ferry:${remote(name)}`, localDir) : ferry('get', '-r', '-q', '--json', remote(name), localDir)),
    uploadMany: (locals, dirName) => [
      {
        cmd: process.execPath,
        args: [...(o.nodeArgs ?? []), benchScript('tools/ferry-load.js'), o.server.url, ...locals.flatMap((l, i) => [l, `${remote(dirName)}/${manyName(i)}`])],
        env,
      },
    ],
    snapshot: () => ferryCounters(o.server),
    bytesSent: async (kind: StepKind, _client, before) => {
      const a = await ferryCounters(o.server);
      const b = before as FerryCounters;
      return kind === 'download' || kind === 'tree-download' ? a.served - b.served : a.received - b.received;
    },
  };
}

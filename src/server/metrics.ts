/** Prometheus metrics of one server (its own registry, so tests can run several servers in one process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BodyMemoryStats } from './chunk-bodies.js';

/** How long the first scrape lets the event-loop lag monitor (10 ms rounds) sample before it is read. */
const FIRST_LAG_SAMPLES_MS = 35;

export class ServerMetrics {
  readonly registry = new Registry();
  readonly chunksReceived = new Counter({ name: 'ferry_chunks_received_total', help: 'Chunk bodies stored (new chunks)', registers: [this.registry] });
  readonly chunkBytesReceived = new Counter({ name: 'ferry_chunk_bytes_received_total', help: 'Bytes of chunk bodies stored', registers: [this.registry] });
  readonly chunkBodyBytesReceived = new Counter({
    name: 'ferry_chunk_body_bytes_received_total',
    help: 'Bytes of file content received from clients (chunk and pack bodies, streamed uploads), whether new or already stored',
    registers: [this.registry],
  });
  readonly chunkWireBytesReceived = new Counter({
    name: 'ferry_chunk_wire_bytes_received_total',
    help: 'Bytes of chunk and pack bodies as they travelled (compressed when the client sent them zstd-compressed); compare with ferry_chunk_body_bytes_received_total',
    registers: [this.registry],
  });
  readonly chunkStoredBytesWritten = new Counter({
    name: 'ferry_chunk_object_bytes_written_total',
    help: 'Bytes of chunk objects written to the chunk store (after compression), for chunks whose plain bytes ferry_chunk_body_bytes_received_total counts',
    registers: [this.registry],
  });
  readonly chunkWireBytesSent = new Counter({
    name: 'ferry_chunk_wire_bytes_sent_total',
    help: 'Bytes of chunks sent to clients as they travelled (compressed for clients that take zstd)',
    registers: [this.registry],
  });
  readonly chunksDeduplicated = new Counter({ name: 'ferry_chunks_deduplicated_total', help: 'Chunk bodies received for chunks already stored (written over the copy there)', registers: [this.registry] });
  readonly chunksServed = new Counter({ name: 'ferry_chunks_served_total', help: 'Chunks read and verified for clients', registers: [this.registry] });
  readonly chunkBytesServed = new Counter({ name: 'ferry_chunk_bytes_served_total', help: 'Bytes of verified chunks read for clients', registers: [this.registry] });
  readonly chunksCorrupt = new Counter({ name: 'ferry_chunk_corrupt_total', help: 'Chunks that failed verification on read', registers: [this.registry] });
  readonly commits = new Counter({ name: 'ferry_upload_commits_total', help: 'Files committed', registers: [this.registry] });
  readonly gcDeleted = new Counter({ name: 'ferry_gc_deleted_objects_total', help: 'Chunk and pack objects deleted by garbage collection', registers: [this.registry] });
  readonly connectionsRefused = new Counter({ name: 'ferry_connections_refused_total', help: 'Connections closed at once: too many open from their address', registers: [this.registry] });
  readonly slowClientsCut = new Counter({ name: 'ferry_slow_clients_cut_total', help: 'Connections or requests cut for a request head or body arriving too slowly, or an answer its client took none of (phase answer)', labelNames: ['phase'] as const, registers: [this.registry] });
  readonly dataDiskFull = new Gauge({ name: 'ferry_data_disk_full', help: "1 while the data directory's disk is full (its reserve released for deletes, new uploads refused), else 0", registers: [this.registry] });
  readonly uploadsActive = new Gauge({ name: 'ferry_upload_sessions', help: 'Live upload sessions', registers: [this.registry] });
  readonly storedBytes = new Gauge({ name: 'ferry_storage_stored_bytes', help: 'Bytes of distinct chunks in the chunk store (after dedup)', registers: [this.registry] });
  readonly logicalBytes = new Gauge({ name: 'ferry_storage_logical_bytes', help: 'Bytes of all files as users see them (before dedup)', registers: [this.registry] });
  readonly encodedBytes = new Gauge({ name: 'ferry_storage_encoded_bytes', help: 'Bytes the chunk objects take in the chunk store (after dedup and compression)', registers: [this.registry] });
  readonly dedupRatio = new Gauge({ name: 'ferry_storage_dedup_ratio', help: 'Logical bytes over stored bytes (1 when nothing is shared)', registers: [this.registry] });
  readonly compressionRatio = new Gauge({ name: 'ferry_storage_compression_ratio', help: 'Stored (plain) bytes over encoded bytes (1 when nothing compresses)', registers: [this.registry] });
  readonly storedChunks = new Gauge({ name: 'ferry_storage_chunks', help: 'Distinct chunks in the chunk store', registers: [this.registry] });
  readonly files = new Gauge({ name: 'ferry_files', help: 'Files in the namespace', registers: [this.registry] });
  readonly userBytes = new Gauge({ name: 'ferry_user_bytes', help: "Bytes of the files in each user's home (what their quota counts)", labelNames: ['user'] as const, registers: [this.registry] });
  readonly userFiles = new Gauge({ name: 'ferry_user_files', help: "Files in each user's home", labelNames: ['user'] as const, registers: [this.registry] });
  readonly userTraffic = new Counter({
    name: 'ferry_user_transfer_bytes_total',
    help: 'HTTP body bytes each user sent (in) and received (out)',
    labelNames: ['user', 'direction'] as const,
    registers: [this.registry],
  });
  readonly webhookQueue = new Gauge({ name: 'ferry_webhook_queue', help: 'Webhook deliveries waiting to be sent (or retried)', registers: [this.registry] });
  readonly requests = new Counter({
    name: 'ferry_http_requests_total',
    help: 'HTTP requests answered, by method, route (its pattern) and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'ferry_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60],
    registers: [this.registry],
  });

  private defaultsOn = false;

  /**
   * The registry's text for a scrape. Node's default metrics (process CPU and memory, heap,
   * event-loop lag, GC) join the registry on the first scrape, not at start-up: their
   * event-loop delay monitor samples every 10 ms, which woke an idle server 100 times a second
   * whether or not anything ever scraped it, and a GC observer made an entry per collection.
   * Figures the process keeps itself (start time, resident memory, CPU seconds) are whole
   * from the first scrape: prom-client counts CPU seconds from the moment it is set up, so
   * the CPU the process used before is added then (else a server busy for a day said
   * 0.002 s at its first scrape). Event-loop lag and GC figures count from it: the first
   * scrape waits for the lag monitor's first samples (a few of its 10 ms rounds), as an empty
   * monitor reads min 9.2e9 s and mean NaN, figures a dashboard would plot as they are.
   */
  async scrape(): Promise<string> {
    if (!this.defaultsOn) {
      this.defaultsOn = true;
      const before = process.cpuUsage();
      collectDefaultMetrics({ register: this.registry, prefix: 'ferry_' });
      const add = (name: string, micros: number) => (this.registry.getSingleMetric(`ferry_${name}`) as Counter | undefined)?.inc(micros / 1e6);
      add('process_cpu_user_seconds_total', before.user);
      add('process_cpu_system_seconds_total', before.system);
      add('process_cpu_seconds_total', before.user + before.system);
      await new Promise((resolve) => setTimeout(resolve, FIRST_LAG_SAMPLES_MS));
    }
    return this.registry.metrics();
  }

  /**
   * The memory budgets of chunk bodies (./chunk-bodies.ts), read when scraped: `in` for
   * chunks being received, `out` for chunks read for responses, `stream` for streamed
   * uploads being cut and stored (./ingest.ts).
   */
  watchBodyMemory(sources: Record<'in' | 'out' | 'stream', () => BodyMemoryStats>): void {
    const all = Object.entries(sources) as ['in' | 'out' | 'stream', () => BodyMemoryStats][];
    const gauge = (name: string, help: string, pick: (s: BodyMemoryStats) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['direction'] as const,
        registers: [this.registry],
        collect() {
          for (const [direction, stats] of all) this.labels(direction).set(pick(stats()));
        },
      });
    gauge('ferry_body_memory_budget_bytes', 'Bytes chunks being received (direction="in") or sent (direction="out") may take in memory, all requests together (--body-memory); streamed uploads being cut and stored (direction="stream"), 4 × --body-memory', (s) => s.budget);
    gauge('ferry_body_memory_bytes', 'Bytes chunk bodies take in memory now: whole-body buffers (in use and kept for reuse), reservations, stream windows', (s) => s.held);
    gauge('ferry_body_memory_peak_bytes', 'The most ferry_body_memory_bytes has been since the server started', (s) => s.peak);
    gauge('ferry_body_memory_waiting', 'Requests waiting for body memory now', (s) => s.waiting);
    new Counter({
      name: 'ferry_body_memory_waits_total',
      help: 'Requests that waited for body memory',
      labelNames: ['direction'] as const,
      registers: [this.registry],
      collect() {
        // Kept by the budgets themselves; copied here when scraped.
        this.reset();
        for (const [direction, stats] of all) this.labels(direction).inc(stats().waits);
      },
    });
  }

}

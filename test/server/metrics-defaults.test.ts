/**
 * Node's default metrics (process CPU and memory, heap, event-loop lag, GC) join a server's
 * registry on its first scrape, not when the server starts (their event-loop delay monitor
 * would wake an idle server every 10 ms): absent before, present from the first scrape on,
 * and registered once however often it is scraped.
 */
import { describe, expect, it } from 'vitest';
import { ServerMetrics } from '../../src/server/metrics.js';

const DEFAULTS = ['ferry_process_cpu_user_seconds_total', 'ferry_process_resident_memory_bytes', 'ferry_nodejs_eventloop_lag_seconds', 'ferry_nodejs_heap_size_used_bytes', 'ferry_nodejs_gc_duration_seconds'];

describe('ServerMetrics default metrics', () => {
  it('registers none before the first scrape, all on it, once', async () => {
    const m = new ServerMetrics();
    const before = (await m.registry.getMetricsAsJSON()).map((x) => x.name);
    expect(before).toContain('ferry_http_requests_total');
    expect(before.filter((n) => DEFAULTS.includes(n))).toEqual([]);
    const first = await m.scrape();
    for (const name of DEFAULTS) expect(first).toContain(`# HELP ${name} `);
    expect(first).toMatch(/^ferry_process_cpu_user_seconds_total \d/m);
    const second = await m.scrape();
    for (const name of DEFAULTS) expect(second.split(`# HELP ${name} `).length).toBe(2);
  });

  it("counts the process's CPU seconds from its start, not from the first scrape", async () => {
    const m = new ServerMetrics();
    const before = process.cpuUsage();
    const text = await m.scrape();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('ferry_process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(before.user / 1e6);
    expect(value('ferry_process_cpu_system_seconds_total')).toBeGreaterThanOrEqual(before.system / 1e6);
    expect(value('ferry_process_cpu_seconds_total')).toBeGreaterThanOrEqual((before.user + before.system) / 1e6);
    expect(value('ferry_process_cpu_seconds_total')).toBeLessThanOrEqual((process.cpuUsage().user + process.cpuUsage().system) / 1e6 + 0.01);
  });

  it('reads event-loop lag from samples on the first scrape (an empty monitor reads min 9.2e9 s and mean NaN)', async () => {
    const text = await new ServerMetrics().scrape();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    for (const name of ['ferry_nodejs_eventloop_lag_min_seconds', 'ferry_nodejs_eventloop_lag_mean_seconds', 'ferry_nodejs_eventloop_lag_max_seconds']) {
      expect(Number.isFinite(value(name)), name).toBe(true);
      expect(value(name), name).toBeLessThan(60);
    }
  });

  it('keeps two servers in one process apart (each its own registry)', async () => {
    const [a, b] = [new ServerMetrics(), new ServerMetrics()];
    await a.scrape();
    expect((await b.registry.getMetricsAsJSON()).map((x) => x.name)).not.toContain('ferry_process_cpu_user_seconds_total');
    expect(await b.scrape()).toContain('# HELP ferry_process_cpu_user_seconds_total ');
  });
});

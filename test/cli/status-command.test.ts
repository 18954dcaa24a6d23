/**
 * `klinestream status` without a broker: processes found through the process registry, their metrics
 * scraped (real ProducerMetrics / WorkerMetrics behind real /metrics servers), stale entries dropped, and a
 * Kafka that cannot be reached reported as such instead of failing the command.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { collectStatus, formatStatus } from '../../src/cli/status-command';
import { loadConfig } from '../../src/config/config';
import { createLogger } from '../../src/observability/log';
import { serveMetrics, type MetricsServer } from '../../src/observability/metrics';
import { listProcesses, processesDir, registerProcess } from '../../src/observability/process-registry';
import { ProducerMetrics } from '../../src/producer/producer-metrics';
import { WorkerMetrics } from '../../src/worker/worker-metrics';
import { freePort } from '../../src/cli/run-command';

jest.setTimeout(30_000);

describe('klinestream status', () => {
  const log = createLogger({ level: 'error' });
  let cacheDir: string;
  let servers: MetricsServer[] = [];
  let sleeper: ChildProcess;
  let trades = 100;

  beforeAll(async () => {
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-status-'));
    const p = new Registry();
    const producer = new ProducerMetrics(p, {
      sequencer: () => ({ gapsFound: 2, gapsFilled: 1, unfillableGaps: 1, duplicates: 5 }), bufferFill: () => 0, bufferCapacity: () => 10, kafkaHealthy: () => 1,
      watermarkLagMs: () => 0, tradesByPartition: () => [trades, 50], frames: () => ({ ok: 150, other: 0, malformed: 3 }), connections: () => 1, restWeightUsed: () => 0,
    });
    producer.badFrames.inc({ reason: 'not_json' }, 3);
    const w = new Registry();
    const worker = new WorkerMetrics(w, {
      counters: () => ({ tradesApplied: 140, duplicates: 0, lateTrades: 2, invalidTrades: 0, invalidWatermarks: 0, needsFlush: 0, finalKlinesOut: 9, liveKlinesOut: 30 }),
      slotsInUse: () => 10, lagByPartition: () => new Map([[0, 4], [1, 6]]), secondsSinceCommit: () => 1, assigned: () => 2,
    });
    worker.dlq.inc({ reason: 'late' }, 2);
    worker.restoreSeconds.observe(0.2);
    worker.restoredSymbols.inc(3);
    servers = [await serveMetrics(p, 0, log), await serveMetrics(w, 0, log)];
    sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    const dir = processesDir(cacheDir);
    fs.mkdirSync(dir, { recursive: true });
    const entry = (pid: number, role: string, url: string) => fs.writeFileSync(path.join(dir, `${pid}.json`), JSON.stringify({ pid, role, topicPrefix: 'app.', metricsUrl: url, startedAt: Date.now() - 65_000 }));
    entry(process.pid, 'producer', servers[0]!.url);
    entry(sleeper.pid!, 'worker', servers[1]!.url);
    entry(4_000_000, 'worker', 'http://127.0.0.1:1/metrics'); // no such process: stale
    setTimeout(() => (trades = 300), 300);
  });

  afterAll(async () => {
    sleeper?.kill();
    for (const s of servers) await s.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  it('registers and unregisters a process', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-reg-'));
    try {
      const r = registerProcess({ cacheDir: dir, topicPrefix: 'x.' }, { role: 'worker', metricsUrl: 'http://127.0.0.1:9/metrics' });
      expect(listProcesses(dir)).toEqual([expect.objectContaining({ pid: process.pid, role: 'worker', topicPrefix: 'x.', metricsUrl: 'http://127.0.0.1:9/metrics' })]);
      r.remove();
      r.remove();
      expect(listProcesses(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows processes, rates, errors, gaps, DLQ and restores; reports Kafka as unreachable', async () => {
    const port = await freePort();
    const config = loadConfig({ KAFKA_BROKERS: `127.0.0.1:${port}`, SCHEMA_REGISTRY_URL: `http://127.0.0.1:${port}`, KLINESTREAM_CACHE_DIR: cacheDir });
    const report = await collectStatus(config, false, log, 1000);
    expect(report.processes.map((p) => p.role).sort()).toEqual(['producer', 'worker']);
    expect(fs.existsSync(path.join(processesDir(cacheDir), '4000000.json'))).toBe(false);
    expect(report.metrics).toMatchObject({
      tradesTotal: 350, badFrames: 3, gapsFound: 2, gapsFilled: 1, unfillableGaps: 1, dlq: 2, lateTrades: 2, restores: 1, restoredSymbols: 3, totalLag: 10,
    });
    expect(report.metrics!.tradesPerSecond).toBeGreaterThan(100);
    expect(report.applications).toEqual([expect.objectContaining({ topicPrefix: 'app.', error: expect.stringMatching(/cannot be reached/) })]);
    const text = formatStatus(report);
    expect(text).toMatch(/producer +pid \d+ +up 1m0\ds/);
    expect(text).toContain('bad frames 3, late trades 2, DLQ records 2');
    expect(text).toContain('gaps      found 2, filled 1, unfillable 1');
    expect(text).toContain('restores  1 partition restores (3 symbols), mean 0.20 s');
    expect(text).toContain('lag       p0 4, p1 6');
    expect(text).toContain('topics of prefix "app."');
  });
});

/**
 * Helpers for the end-to-end suites: one klinestream application per test under a unique topic prefix, its
 * commands run as real processes (so kill -9 is real), and readers for what it wrote.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Kafka } from 'kafkajs';
import { SchemaCatalogue } from '../../src/codec/schema-catalogue';
import { RegistryClient } from '../../src/codec/schema-registry';
import { valueDecoder } from '../../src/codec/topic-codecs';
import type { Kline } from '../../src/codec/records';
import { builtCli, runCli, testConnection, testKafka, uniqueName, type CliResult } from './helpers';

export function appPrefix(name: string): string {
  return `${uniqueName(name)}.`;
}

/** The environment of one app: its prefix, metrics on any free port, quiet logs unless asked. */
export function appEnv(prefix: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KLINESTREAM_TOPIC_PREFIX: prefix,
    KLINESTREAM_METRICS_PORT: '0',
    KLINESTREAM_LOG_LEVEL: process.env.KLINESTREAM_LOG_LEVEL ?? 'warn',
    ...extra,
  };
}

export interface Running {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `klinestream <args>` and returns at once. */
export function startCli(args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, [builtCli(), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const r: Running = {
    child, stdout: '', stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout!.on('data', (d: Buffer) => (r.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (r.stderr += d.toString()));
  return r;
}

/**
 * SIGTERMs `processes` and waits up to `timeoutMs` for each to exit; a process still running after that is
 * a hang (named, with its stderr, through withProcessLogs) instead of a silent wait until jest's timeout.
 */
export async function stopWithin(processes: Running[], timeoutMs = 60_000): Promise<Array<{ code: number | null; signal: NodeJS.Signals | null }>> {
  for (const p of processes) p.child.kill('SIGTERM');
  await waitFor(`${processes.length} process(es) to exit after SIGTERM`, () => processes.every((p) => p.child.exitCode !== null || p.child.signalCode !== null), timeoutMs, 100);
  return Promise.all(processes.map((p) => p.exited));
}

/** Kills what is still running (SIGKILL) and waits for it. */
export async function killAll(processes: Running[]): Promise<void> {
  for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(processes.map((p) => p.exited));
}

export async function expectOk(r: CliResult | Promise<CliResult>, what: string): Promise<CliResult> {
  const res = await r;
  if (res.code !== 0) throw new Error(`${what} exited ${res.code}:\n${res.stderr.slice(-4000)}`);
  return res;
}

/** `klines --final --from-beginning --exit-at-end --format json`: every final kline once. */
export async function finalsOf(env: NodeJS.ProcessEnv, extra: string[] = []): Promise<Kline[]> {
  const r = await expectOk(runCli(['klines', '--final', '--from-beginning', '--exit-at-end', '--format', 'json', ...extra], env), 'klines --final');
  return r.stdout.trim() === '' ? [] : r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Kline);
}

export const klineKey = (k: Kline) => `${k.symbol}|${k.interval}|${k.openTime}`;

export function sortKlines(ks: Kline[]): Kline[] {
  return [...ks].sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : a.interval < b.interval ? -1 : a.interval > b.interval ? 1 : a.openTime - b.openTime));
}

/** `aggregate` of a frames file (the offline reference every pipeline test compares with), sorted. */
export async function aggregateFinals(file: string): Promise<Kline[]> {
  const offline = await expectOk(runCli(['aggregate', '--source', `file:${file}`, '--format', 'json']), 'aggregate');
  return sortKlines(offline.stdout.trim().split('\n').map((l) => JSON.parse(l) as Kline));
}

/** The final klines among `records`, the last record of each kline, sorted (what `klines --final` prints). */
export function finalsFrom(records: Kline[]): Kline[] {
  const byKey = new Map<string, Kline>();
  for (const k of records) if (k.isFinal) byKey.set(klineKey(k), k);
  return sortKlines([...byKey.values()]);
}

/** Every record of a topic of Kline values, in partition order (read_committed). */
export async function allKlineRecords(topic: string, kafka: Kafka = testKafka()): Promise<Kline[]> {
  const catalogue = SchemaCatalogue.load();
  const decoder = valueDecoder(new RegistryClient({ url: testConnection().schemaRegistryUrl }), catalogue, 'Kline');
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const remaining = new Map(ends.filter((e) => Number(e.high) > Number(e.low)).map((e) => [e.partition, Number(e.high)]));
  const out: Kline[] = [];
  if (remaining.size === 0) return out;
  const groupId = uniqueName('read-klines');
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const done = (p: number, next: number) => {
      if (next >= (remaining.get(p) ?? Infinity)) remaining.delete(p);
      if (remaining.size === 0) resolve();
    };
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => done(e.payload.partition, Number(e.payload.lastOffset) + 1));
    consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) out.push(await decoder.decodeAsync(m.value!));
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  const a = kafka.admin();
  await a.connect();
  await a.deleteGroups([groupId]).catch(() => undefined);
  await a.disconnect();
  return out;
}

/** Deletes every topic and group of an app (its prefix). */
export async function deleteApp(prefix: string): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 20_000 }).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

/** Total lag of the app's worker group on its trades topic (end offsets minus committed). */
export async function groupLag(prefix: string, kafka: Kafka = testKafka()): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(`${prefix}trades`);
    const group = await admin.fetchOffsets({ groupId: `${prefix}klinestream-workers`, topics: [`${prefix}trades`] });
    const committed = new Map((group[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    let lag = 0;
    for (const e of ends) {
      const c = committed.get(e.partition) ?? -1;
      lag += c < 0 ? Number(e.high) - Number(e.low) : Math.max(0, Number(e.high) - c);
    }
    return lag;
  } finally {
    await admin.disconnect();
  }
}

/** Polls `check` until it returns true (or throws after `timeoutMs`, with `what` in the message). */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 120_000, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs `body`; when it fails, the error carries the last lines of what each process wrote to stderr. */
export async function withProcessLogs<T>(processes: Running[], body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    const tails = processes.map((p, i) => `--- process ${i} (pid ${p.child.pid}, exit ${p.child.exitCode ?? p.child.signalCode ?? 'running'}) ---\n${p.stderr.split('\n').slice(-15).join('\n')}`);
    const err = e instanceof Error ? e : new Error(String(e));
    err.message += `\n${tails.join('\n')}`;
    throw err;
  }
}

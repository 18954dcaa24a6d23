/**
 * Where the running klinestream processes are: every long-running command (producer, worker, `run`)
 * registers itself in `<cacheDir>/run/processes/<pid>.json` with its role, topic prefix and metrics URL, and
 * removes the file when it stops. `klinestream status` (and anything else on the machine) reads the folder to
 * find the processes to scrape. A process killed with SIGKILL cannot remove its file: readers skip and delete
 * entries whose process is gone (pid plus start time, so a reused pid is not mistaken for it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config/config';
import { isAlive, processStartTime } from './process-liveness';

export type ProcessRole = 'producer' | 'worker' | 'run' | string;

export interface ProcessEntry {
  pid: number;
  role: ProcessRole;
  /** KLINESTREAM_TOPIC_PREFIX of the process: which application it belongs to. */
  topicPrefix: string;
  /** Its Prometheus endpoint, e.g. http://127.0.0.1:41234/metrics. */
  metricsUrl?: string;
  /** `run` only: the live page. */
  pageUrl?: string;
  /** Producer: its --source. */
  source?: string;
  /** Epoch ms. */
  startedAt: number;
  /** /proc start time (clock ticks since boot), to tell a reused pid apart. */
  startTime?: string;
}

export interface Registration {
  readonly file: string;
  /** Removes the entry (idempotent); also done at process exit. */
  remove(): void;
}

export function processesDir(cacheDir: string): string {
  return path.join(cacheDir, 'run', 'processes');
}

/** Registers this process. Never throws: a read-only cache dir only means `status` cannot find it. */
export function registerProcess(
  config: Pick<Config, 'cacheDir' | 'topicPrefix'>,
  fields: { role: ProcessRole; metricsUrl?: string; pageUrl?: string; source?: string },
): Registration {
  const dir = processesDir(config.cacheDir);
  const file = path.join(dir, `${process.pid}.json`);
  const startTime = processStartTime(process.pid);
  const entry: ProcessEntry = {
    pid: process.pid, topicPrefix: config.topicPrefix, startedAt: Date.now(), ...fields, ...(startTime === undefined ? {} : { startTime }),
  };
  let written = false;
  try {
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(entry) + '\n');
    fs.renameSync(tmp, file);
    written = true;
  } catch {
    written = false;
  }
  const remove = (): void => {
    if (!written) return;
    written = false;
    process.off('exit', remove);
    try {
      // Only our own entry: a later process with the same pid would have rewritten it.
      const current = JSON.parse(fs.readFileSync(file, 'utf8')) as ProcessEntry;
      if (current.pid === process.pid && current.startedAt === entry.startedAt) fs.rmSync(file, { force: true });
    } catch {
      // already gone
    }
  };
  if (written) process.on('exit', remove);
  return { file, remove };
}

function parseEntry(text: string): ProcessEntry | undefined {
  try {
    const e = JSON.parse(text) as Partial<ProcessEntry>;
    if (typeof e.pid !== 'number' || typeof e.role !== 'string' || typeof e.startedAt !== 'number') return undefined;
    return { topicPrefix: '', ...e } as ProcessEntry;
  } catch {
    return undefined;
  }
}

/** The live registered processes, oldest first; entries of processes that are gone are deleted. */
export function listProcesses(cacheDir: string): ProcessEntry[] {
  const dir = processesDir(cacheDir);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: ProcessEntry[] = [];
  for (const name of names) {
    if (!/^\d+\.json$/.test(name)) continue;
    const file = path.join(dir, name);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const e = parseEntry(text);
    const alive = e !== undefined && isAlive(e.pid) && (e.startTime === undefined || processStartTime(e.pid) === undefined || processStartTime(e.pid) === e.startTime);
    if (!alive) {
      fs.rmSync(file, { force: true });
      continue;
    }
    out.push(e);
  }
  return out.sort((a, b) => a.startedAt - b.startedAt || a.pid - b.pid);
}

/**
 * Fault injection for the delivery tests (never set in production): `KLINESTREAM_TEST_FAULTS` holds
 * `point=probability` pairs, e.g. `publish=0.2,commit=0.1,die-after-klines=0.02`, optionally `seed=N`, and
 * deterministic forms: `point#N` fails the first N times the point is reached, `point@N` fails exactly the
 * N-th time.
 * Points: `publish` (the kline publish fails), `publish-mid-batch` (the publish of a flush that a batch waits
 * for, in the middle of it, fails: under exactly-once, for the batch's partition, which is rewound while its
 * batch waits), `state` (the state publish fails), `commit` (the offset commit
 * fails), `die-after-klines` and `die-after-state` (the process exits at once, kill -9 style, between two
 * steps of the flush protocol). Read once at startup, like every setting.
 */
import { KlinestreamError } from '../errors';

export const FAULT_POINTS = ['publish', 'publish-mid-batch', 'state', 'commit', 'die-after-klines', 'die-after-state'] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

export class Faults {
  private state: number;
  private readonly reached = new Map<FaultPoint, number>();
  private constructor(
    private readonly p: Partial<Record<FaultPoint, number>>,
    seed: number,
    private readonly first: Partial<Record<FaultPoint, number>> = {},
    private readonly exactly: Partial<Record<FaultPoint, number>> = {},
  ) {
    this.state = seed >>> 0 || 1;
  }

  static none(): Faults {
    return new Faults({}, 1);
  }

  static parse(raw: string | undefined): Faults {
    if (raw === undefined || raw === '') return Faults.none();
    const p: Partial<Record<FaultPoint, number>> = {};
    const first: Partial<Record<FaultPoint, number>> = {};
    const exactly: Partial<Record<FaultPoint, number>> = {};
    let seed = Date.now();
    for (const part of raw.split(',')) {
      const counted = /^([a-z-]+)([#@])(\d+)$/.exec(part.trim());
      if (counted && (FAULT_POINTS as readonly string[]).includes(counted[1]!)) {
        (counted[2] === '#' ? first : exactly)[counted[1] as FaultPoint] = Number(counted[3]);
        continue;
      }
      const [k, v] = part.split('=').map((s) => s.trim());
      const n = Number(v);
      if (k === 'seed' && Number.isInteger(n)) {
        seed = n;
        continue;
      }
      if (!(FAULT_POINTS as readonly string[]).includes(k ?? '') || !(n >= 0 && n <= 1)) {
        throw new KlinestreamError('CONFIG_INVALID', `KLINESTREAM_TEST_FAULTS: expected point=probability, point#N or point@N with points ${FAULT_POINTS.join(', ')}, got ${JSON.stringify(part)}`, {}, { exitCode: 2 });
      }
      p[k as FaultPoint] = n;
    }
    return new Faults(p, seed, first, exactly);
  }

  get active(): boolean {
    return Object.keys(this.p).length + Object.keys(this.first).length + Object.keys(this.exactly).length > 0;
  }

  /** Throws (or exits) when the dice say so at `point`. */
  at(point: FaultPoint): void {
    const n = (this.reached.get(point) ?? 0) + 1;
    this.reached.set(point, n);
    const prob = this.p[point];
    const hit = n <= (this.first[point] ?? 0) || n === this.exactly[point] || (prob !== undefined && this.random() < prob);
    if (!hit) return;
    if (point.startsWith('die-')) {
      process.stderr.write(`KLINESTREAM_TEST_FAULTS: dying at ${point}\n`);
      // Like kill -9: no flush, no commit, no leaving the group.
      process.kill(process.pid, 'SIGKILL');
    }
    throw new KlinestreamError('WORKER_FAILED', `injected fault at ${point}`, { point });
  }

  private random(): number {
    // xorshift32: reproducible with a seed.
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x100000000;
  }
}

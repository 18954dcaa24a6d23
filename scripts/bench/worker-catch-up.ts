/**
 * Catch-up benchmark (issue 14): the day-long silence of test/integration/worker-catch-up.test.ts (100
 * symbols, 26 hours without a trade, then trading again: the first watermark after the silence closes
 * ~261,000 klines at once). Timed per round, in the same round: `aggregate` of the frames file (the offline
 * baseline: the same aggregation with no Kafka), and `work --until-caught-up` under each guarantee on topics
 * the producer filled before the timing. Reported: medians, and the ratio to `aggregate` (median of the
 * per-round ratios).
 */
import * as fs from 'node:fs';
import type { Admin } from 'kafkajs';
import { silentMarketFrames } from './silent-market';
import { appEnv, expectExit, median, runCli, type BenchConnection } from './worker-bench-support';

export interface CatchUpBenchOptions {
  conn: BenchConnection;
  /** Topic prefix of the section; each run gets its own app under it. */
  prefix: string;
  cacheDir: string;
  admin: Admin;
  runs: number;
}

const GUARANTEES = ['at-least-once', 'exactly-once'] as const;

export async function catchUpBench(o: CatchUpBenchOptions): Promise<void> {
  const market = silentMarketFrames();
  try {
    const aggregateMs: number[] = [];
    const workMs: number[][] = GUARANTEES.map(() => []);
    for (let r = 0; r < o.runs; r++) {
      let t0 = Date.now();
      await expectExit('aggregate', runCli(['aggregate', '--source', `file:${market.file}`, '--format', 'json'], appEnv(o.conn, o.prefix, o.cacheDir)));
      aggregateMs.push(Date.now() - t0);
      for (const [g, guarantee] of GUARANTEES.entries()) {
        const env = appEnv(o.conn, `${o.prefix}r${r}${g}.`, o.cacheDir, { KLINESTREAM_PARTITIONS: '2', KLINESTREAM_GUARANTEE: guarantee, KLINESTREAM_LOG_LEVEL: 'warn' });
        await expectExit('produce', runCli(['produce', '--source', `file:${market.file}`], env));
        t0 = Date.now();
        await expectExit(`work --until-caught-up (${guarantee})`, runCli(['work', '--until-caught-up'], env));
        workMs[g]!.push(Date.now() - t0);
      }
      process.stdout.write(`catch-up round ${r + 1}/${o.runs}: aggregate ${aggregateMs[r]} ms, work ${workMs.map((w) => `${w[r]} ms`).join(' / ')}\n`);
    }
    console.log(`\ncatch-up after a 26 h silence of 100 symbols (${market.trades} trades, ~261,000 finals at once); median of ${o.runs} run(s)`);
    console.log('contender                                   wall     ratio to aggregate');
    console.log(`${'aggregate (offline, no Kafka)'.padEnd(40)} ${(median(aggregateMs) / 1000).toFixed(1).padStart(6)} s   1.00`);
    for (const [g, guarantee] of GUARANTEES.entries()) {
      const ratio = median(workMs[g]!.map((ms, r) => ms / aggregateMs[r]!));
      console.log(`${`work --until-caught-up (${guarantee})`.padEnd(40)} ${(median(workMs[g]!) / 1000).toFixed(1).padStart(6)} s   ${ratio.toFixed(2)}`);
    }
  } finally {
    fs.rmSync(market.dir, { recursive: true, force: true });
  }
}

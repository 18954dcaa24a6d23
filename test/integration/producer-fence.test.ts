/**
 * A producer restart racing its predecessor (issue 15 point 3): the new producer must fence the
 * transactional id (InitProducerId) BEFORE it reads `symbols` and `producer-state`. Read before the fence,
 * whatever the predecessor commits in between is missed, and the new producer gives a symbol index that the
 * predecessor already gave to another symbol.
 *
 * The predecessor here is a plain kafkajs transactional producer with the producer's transactional id that
 * commits a new SymbolEntry (and its producer-state checkpoint) in a tight loop, as a producer that is still
 * running when its successor starts would; it stops when it is fenced. The successor is the real CLI
 * against the exchange stand-in. Afterwards every index in `symbols` names one symbol only, every entry the
 * predecessor committed is known to the successor, and the predecessor was fenced (its last transaction
 * failed).
 */
import type { Producer } from 'kafkajs';
import { SchemaCatalogue } from '../../src/codec/schema-catalogue';
import { symbolEntry } from '../../src/codec/records';
import { RegistryClient } from '../../src/codec/schema-registry';
import { registerValueCodec } from '../../src/codec/topic-codecs';
import { encodeCheckpoint } from '../../src/producer/producer-state';
import { runCli, testConnection, testKafka } from './helpers';
import { appPrefix, deleteApp } from './pipeline-helpers';
import { ProducerProcess, pollUntil, producerEnv, runningProducers, stopAllProducers } from './support/producer-process';
import { closeStandins, DATA_FILES, startStandin } from './support/standin-setup';
import { readSymbols } from './support/trades-topic';

jest.setTimeout(180_000);

const prefix = appPrefix('producer-fence');
const SYMBOLS = ['BTCUSDT', 'SANDUSDT', 'CTKUSDT', 'BATUSDT'];

let predecessor: Producer | undefined;

afterAll(async () => {
  await predecessor?.disconnect().catch(() => undefined);
  await stopAllProducers();
  await closeStandins();
  await deleteApp(prefix);
  expect(runningProducers()).toEqual([]);
});

it('a restart fences its predecessor before it reads symbols: no index is given out twice', async () => {
  // Nothing plays: the producer only has to start, read its state and assign its symbols.
  const ex = await startStandin({ files: [{ path: DATA_FILES.usdm5 }, { path: DATA_FILES.btc2024Aug }], speed: 'manual' });
  const env = producerEnv(prefix, ex, { KLINESTREAM_PARTITIONS: '2' });
  const created = await runCli(['topics', 'create'], env);
  expect({ code: created.code, stderr: created.code === 0 ? '' : created.stderr }).toEqual({ code: 0, stderr: '' });

  const codec = await registerValueCodec(new RegistryClient({ url: testConnection().schemaRegistryUrl }), SchemaCatalogue.load(), `${prefix}symbols`, 'SymbolEntry');
  const kafka = testKafka();
  const p = kafka.producer({ transactionalId: `${prefix}klinestream-producer`, idempotent: true, maxInFlightRequests: 1, retry: { retries: 2 } });
  predecessor = p;
  await p.connect();
  // The predecessor goes on committing new symbols until it is fenced (or 120 s pass).
  const committed: string[] = [];
  let fencedBy: unknown;
  const loop = (async () => {
    const until = Date.now() + 120_000;
    for (let k = 0; Date.now() < until; k++) {
      const name = `RACE${k}USDT`;
      try {
        const txn = await p.transaction();
        try {
          await txn.send({ topic: `${prefix}symbols`, acks: -1, messages: [{ key: name, value: codec.encode(symbolEntry(name, k, { partition: 0 })), partition: 0 }] });
          await txn.send({ topic: `${prefix}producer-state`, acks: -1, messages: [{ key: name, value: encodeCheckpoint(k, Date.now()), partition: 0 }] });
          await txn.commit();
        } catch (e) {
          await txn.abort().catch(() => undefined);
          throw e;
        }
        committed.push(name);
      } catch (e) {
        fencedBy = e;
        return;
      }
    }
  })();
  await pollUntil('the predecessor to commit a few symbols', () => committed.length >= 5, 60_000, 20);

  const successor = ProducerProcess.start(['--source', 'binance', '--symbols', SYMBOLS.join(',')], env);
  await successor.ready();
  await loop;
  expect(fencedBy).toBeDefined();
  const ready = await successor.waitForLog('producer ready');
  // The successor knew every symbol the predecessor committed before it was fenced, and all their checkpoints.
  expect(ready.knownSymbols).toBe(committed.length);
  expect(ready.checkpoints).toBe(committed.length);
  expect(successor.logs().filter((l) => /producer-state names a symbol/.test(l.msg))).toEqual([]);

  // Its own symbols reach `symbols` with fresh indexes; readSymbols fails if one index names two symbols.
  let symbols: Awaited<ReturnType<typeof readSymbols>> | undefined;
  await pollUntil('the successor\'s SymbolEntries in symbols', async () => {
    symbols = await readSymbols(prefix);
    return SYMBOLS.every((s) => symbols!.byName.has(s));
  }, 60_000, 500);
  expect([...symbols!.byName.keys()].filter((n) => n.startsWith('RACE')).sort()).toEqual([...committed].sort());
  const indexes = symbols!.all.map((e) => e.index);
  expect(new Set(indexes).size).toBe(indexes.length);
  expect(SYMBOLS.map((s) => symbols!.byName.get(s)!.index).sort((a, b) => a - b)).toEqual([0, 1, 2, 3].map((i) => committed.length + i));
  expect(await successor.stop()).toEqual({ code: 0, signal: null });
});

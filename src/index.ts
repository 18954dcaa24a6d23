/**
 * The klinestream library: what a downstream service imports (`import { KlineConsumer } from 'klinestream'`).
 *
 *   const consumer = new KlineConsumer({ brokers: ['localhost:9092'], schemaRegistryUrl: 'http://localhost:8081',
 *     topicPrefix: '', groupId: 'my-service', symbols: ['BTCUSDT'], intervals: ['1m'], finalOnly: true, fromBeginning: true });
 *   await consumer.run(async (kline) => { ... });   // typed Kline objects; stop() ends it
 *
 * Records are Avro `Kline`s (schemas/kline.avsc) decoded with the writer schema from the registry;
 * duplicates are dropped by (symbol, interval, openTime, version); with a groupId, offsets are committed
 * after the handler returned and a restart resumes from them. See src/downstream/kline-consumer.ts.
 */
// First: kafkajs must load with klinestream's fixes (src/kafka/kafkajs-patch.ts).
import './kafka/kafkajs-patch';

export { KlineConsumer, klineConsumerOptions } from './downstream/kline-consumer';
export type { KlineConsumerOptions, KlineConsumerStats, KlineHandler, KlineMeta } from './downstream/kline-consumer';
export { KlineDeduper } from './downstream/kline-dedupe';
export type { DedupeCounters, DedupeOutcome, KlineDeduperOptions, KlineIdentity } from './downstream/kline-dedupe';
export type { Kline } from './codec/records';
export { KLINE_CSV_HEADER, klineRecordCsvRow } from './downstream/kline-csv';
export { KlinestreamError, isKlinestreamError } from './errors';
export type { ErrorCode } from './errors';
export type { Logger, LogLevel } from './observability/log';

/**
 * A one-off read of the `symbols` topic into a SymbolDirectory (for commands that only look: `topics
 * describe`, `status`, downstream tools). Long-running processes keep a SymbolsFollower instead.
 */
import type { Config } from '../config/config';
import { topicNames } from '../config/config';
import { SchemaCatalogue } from '../codec/schema-catalogue';
import { valueDecoder } from '../codec/topic-codecs';
import { kafkaClient, registryClient } from '../kafka/client';
import type { Logger } from '../observability/log';
import type { Connection } from '../config/connection';
import { SymbolDirectory } from './symbol-directory';
import { SymbolsFollower } from './symbols-topic';

export async function loadDirectory(config: Config, connection: Connection, log: Logger): Promise<SymbolDirectory> {
  const kafka = kafkaClient(config, connection, log, { clientId: 'klinestream-symbols-reader' });
  const admin = kafka.admin();
  await admin.connect();
  const directory = new SymbolDirectory();
  try {
    const topic = topicNames(config.topicPrefix).symbols;
    if (!(await admin.listTopics()).includes(topic)) return directory;
    const follower = new SymbolsFollower({
      kafka, admin, topic, groupPrefix: config.topicPrefix, log, directory,
      decoder: valueDecoder(registryClient(config, connection), SchemaCatalogue.load(), 'SymbolEntry'),
    });
    try {
      await follower.start();
    } finally {
      await follower.stop();
    }
    return directory;
  } finally {
    await admin.disconnect();
  }
}

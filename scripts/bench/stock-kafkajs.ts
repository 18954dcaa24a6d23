/**
 * An unpatched copy of kafkajs for the produce benchmark's baseline, the client as users install it. It is
 * loaded first and then dropped from Node's module cache, so that src/kafka/kafkajs-patch.ts (imported next)
 * and everything in src/ load a second, patched copy: both contenders run in one process, each on its own
 * kafkajs. Import this module before anything else.
 */
import * as path from 'node:path';
import type * as Kafkajs from 'kafkajs';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const stockKafkajs = require('kafkajs') as typeof Kafkajs;
const inKafkajs = `${path.sep}kafkajs${path.sep}`;
for (const key of Object.keys(require.cache)) if (key.includes(inKafkajs)) delete require.cache[key];

/**
 * Jest loads modules through its own registry, where src/kafka/kafkajs-patch.ts cannot reach kafkajs'
 * modules; the `moduleNameMapper` entry in package.json points kafkajs' `./filterAbortedMessages` here, so
 * that every in-process consumer of the tests (the read-back helpers) filters aborted transactions exactly
 * as the CLI's processes do.
 */
import { filterAbortedMessages } from '../../src/kafka/aborted-filter';

export = filterAbortedMessages;

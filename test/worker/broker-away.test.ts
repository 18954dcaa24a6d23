import { KafkaJSConnectionError, KafkaJSGroupCoordinatorNotFound, KafkaJSNonRetriableError, KafkaJSProtocolError } from 'kafkajs';
import { brokerAway } from '../../src/worker/worker';

// kafkajs' typings omit the constructor arguments its classes take (a message, and { cause }).
const GroupCoordinatorNotFound = KafkaJSGroupCoordinatorNotFound as unknown as new (message: string) => Error;
const NonRetriable = KafkaJSNonRetriableError as unknown as new (message: string, options?: { cause?: Error }) => Error;

// Which consumer crashes the worker restarts from (kafkajs gave up) and which fail it.
it('a missing group coordinator or a refused connection means a broker is away', () => {
  expect(brokerAway(new GroupCoordinatorNotFound('Failed to find group coordinator'))).toBe(true);
  expect(brokerAway(new NonRetriable('Number of retries exceeded', { cause: new KafkaJSConnectionError('Connection error: connect ECONNREFUSED') }))).toBe(true);
});

it('anything else fails the worker', () => {
  expect(brokerAway(new NonRetriable('Consumer group was not initialized'))).toBe(false);
  expect(brokerAway(new KafkaJSProtocolError('Group authorization failed'))).toBe(false);
  expect(brokerAway(new Error('boom'))).toBe(false);
});

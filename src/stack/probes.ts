/**
 * "Does it answer?" checks for the two services, each bounded by short timeouts so that polling them
 * in a loop gives a prompt and honest readiness signal.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { Kafka, logLevel } from 'kafkajs';

export interface KafkaProbe {
  ok: boolean;
  brokers?: number;
  clusterId?: string;
  error?: string;
}

/** Ready means a client can describe the cluster through the client port (what every command needs). */
export async function probeKafka(address: string, timeoutMs = 3000): Promise<KafkaProbe> {
  const kafka = new Kafka({
    clientId: 'klinestream-stack-probe',
    brokers: [address],
    connectionTimeout: Math.min(timeoutMs, 1000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
    // Refused connections are the expected answer while the broker boots; they are not worth a log line.
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await withTimeout(admin.connect(), timeoutMs);
    const cluster = await withTimeout(admin.describeCluster(), timeoutMs);
    return { ok: cluster.brokers.length > 0, brokers: cluster.brokers.length, clusterId: cluster.clusterId };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export interface HttpProbe {
  ok: boolean;
  status?: number;
  error?: string;
}

/** Ready means the Confluent-compatible API lists subjects (HTTP 200), not merely that the port is open. */
export function probeRegistry(apiUrl: string, timeoutMs = 3000): Promise<HttpProbe> {
  return new Promise((resolve) => {
    const req = http.get(`${apiUrl}/subjects`, { timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 200, status: res.statusCode }));
      res.on('error', (e) => resolve({ ok: false, error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve({ ok: false, error: e.message }));
  });
}

/** True when nothing listens on 127.0.0.1:port (we could bind it ourselves). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

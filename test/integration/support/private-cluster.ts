/**
 * A private 3-node KRaft cluster for failover tests: every node broker and controller (one 3-voter quorum),
 * replication factor 3 and min.insync.replicas 2 everywhere (src/stack/cluster-properties.ts). Each node has
 * its own ports (below the ephemeral range), data dir, properties and log under one temp dir; the jars are
 * the shared stack's download, and the schema registry is the shared stack's (as in private-kafka.ts).
 *
 * Nodes are started and probed through the stack's own service code (startService), so a node is the broker
 * users run with a cluster's settings. A node can be killed with kill -9 and started again on the same data
 * dir; `leaders` and `pidOf` say which JVM to kill. Every wait is bounded and fails with the nodes' log tails.
 * The JVMs carry `-Dklinestream.stack.home=<the cluster's dir>`, so they are never taken for (or stopped as)
 * the shared stack's, and `destroy()` finds any that lost track of.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Kafka, logLevel, type Admin, type PartitionMetadata } from 'kafkajs';
import { loadConfig } from '../../../src/config/config';
import { createLogger } from '../../../src/observability/log';
import { renderClusterNodeProperties, type ClusterNode } from '../../../src/stack/cluster-properties';
import { describeExit, failureMessage, readLogFrom } from '../../../src/stack/failure';
import { ensureArtifacts, type Artifacts } from '../../../src/stack/fetch';
import { newClusterId, storageFormatArgs } from '../../../src/stack/kafka-properties';
import { stackLayout, stackScript } from '../../../src/stack/layout';
import { probeKafka } from '../../../src/stack/probes';
import { findProcesses, signalGroup, waitForExit } from '../../../src/stack/proc';
import { registryPlan } from '../../../src/stack/registry';
import { startService, type Service } from '../../../src/stack/services';
import { freePorts } from '../helpers';

/** Per node: a 3-node cluster beside the shared stack and other suites on a 2-core machine. */
const NODE_HEAP = ['-Xms128m', '-Xmx512m'];
/** A JVM start on a loaded machine, including log recovery after kill -9. */
const START_TIMEOUT_MS = 180_000;

interface NodeProcess {
  node: ClusterNode;
  service: Service;
  propertiesFile: string;
  pid: number | undefined;
}

export interface PartitionState {
  topic: string;
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
}

export class PrivateCluster {
  private constructor(readonly dir: string, private readonly nodes: NodeProcess[], private readonly artifacts: Artifacts) {}

  /** Formats and starts `size` nodes, and waits until every one is a live broker of the cluster. */
  static async start(size = 3): Promise<PrivateCluster> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-cluster-'));
    let cluster: PrivateCluster | undefined;
    try {
      const shared = loadConfig({ ...process.env, KAFKA_BROKERS: undefined, SCHEMA_REGISTRY_URL: undefined });
      const artifacts = await ensureArtifacts(stackLayout(shared.cacheDir), registryPlan(shared).version, createLogger({ level: 'error' }));
      const ports = await freePorts(2 * size);
      const nodes: ClusterNode[] = Array.from({ length: size }, (_, i) => ({
        id: i + 1, kafkaPort: ports[2 * i]!, controllerPort: ports[2 * i + 1]!, dataDir: path.join(dir, `node-${i + 1}`, 'data'),
      }));
      cluster = new PrivateCluster(dir, nodes.map((node) => nodeProcess(dir, node, nodes)), artifacts);
      const clusterId = newClusterId();
      await Promise.all(cluster.nodes.map((n) => formatNode(n, artifacts, clusterId)));
      // All at once: no node finishes starting before a majority of the voters runs.
      await Promise.all(cluster.nodes.map((n) => cluster!.startNode(n)));
      await cluster.waitForBrokers(size);
      return cluster;
    } catch (e) {
      if (cluster !== undefined) await cluster.destroy();
      else fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Every node's client address, for KAFKA_BROKERS (clients find the live ones themselves). */
  get brokers(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.node.kafkaPort}`).join(',');
  }

  get nodeIds(): number[] {
    return this.nodes.map((n) => n.node.id);
  }

  /** The JVM of a node, or undefined while it is down. */
  pidOf(nodeId: number): number | undefined {
    return this.byId(nodeId).pid;
  }

  /** A kafkajs client of the cluster, seeded with the nodes that run. */
  kafka(clientId = 'klinestream-test-cluster'): Kafka {
    const live = this.nodes.filter((n) => n.pid !== undefined);
    return this.kafkaOf(live.length > 0 ? live : this.nodes, clientId);
  }

  private kafkaOf(seeds: NodeProcess[], clientId = 'klinestream-test-cluster'): Kafka {
    return new Kafka({
      clientId,
      brokers: seeds.map((n) => `127.0.0.1:${n.node.kafkaPort}`),
      connectionTimeout: 2000,
      requestTimeout: 10_000,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
      // A dead node's refused connections are expected here; the waits report what they saw.
      logLevel: logLevel.NOTHING,
    });
  }

  /** Runs `body` with a connected admin of the cluster, disconnected afterwards. */
  async withAdmin<T>(body: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = this.kafka().admin();
    await admin.connect();
    try {
      return await body(admin);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** Leader, replicas and ISR of every partition of `topics`, as a metadata request answers now. */
  async partitions(topics: string[]): Promise<PartitionState[]> {
    return this.withAdmin(async (admin) => {
      const meta = await admin.fetchTopicMetadata({ topics });
      return meta.topics.flatMap((t) => t.partitions.map((p: PartitionMetadata) => ({
        topic: t.name, partition: p.partitionId, leader: p.leader, replicas: [...p.replicas], isr: [...p.isr],
      })));
    });
  }

  /** The node that leads `topic`-`partition` now. */
  async leaderOf(topic: string, partition: number): Promise<number> {
    const p = (await this.partitions([topic])).find((s) => s.partition === partition);
    if (p === undefined) throw new Error(`${topic} has no partition ${partition}`);
    return p.leader;
  }

  /** kill -9 of the node's JVM (its whole process group); returns once the process is gone. */
  async kill9(nodeId: number): Promise<void> {
    const n = this.byId(nodeId);
    if (n.pid === undefined) throw new Error(`node ${nodeId} is not running`);
    signalGroup(n.pid, 'SIGKILL');
    if (!(await waitForExit(n.pid, 10_000))) throw new Error(`node ${nodeId} (pid ${n.pid}) still runs 10 s after SIGKILL`);
    n.pid = undefined;
  }

  /** Starts a stopped node again on its own data dir (Kafka recovers its logs after a kill -9). */
  async restart(nodeId: number): Promise<void> {
    const n = this.byId(nodeId);
    if (n.pid !== undefined) throw new Error(`node ${nodeId} is running (pid ${n.pid})`);
    await this.startNode(n);
  }

  /**
   * Polls until the cluster shows the node gone: not a live broker in the metadata, leading no partition
   * of `topics` and in none of their ISRs (the controller fenced it and moved its leaderships).
   */
  async waitUntilGone(nodeId: number, topics: string[], timeoutMs = 60_000): Promise<void> {
    await this.waitFor(`node ${nodeId} to be gone from the cluster's metadata`, async () => {
      const brokers = await this.withAdmin(async (a) => (await a.describeCluster()).brokers.map((b) => b.nodeId));
      if (brokers.includes(nodeId)) return `still a live broker (brokers ${brokers.join(', ')})`;
      const still = (await this.partitions(topics)).filter((p) => p.leader === nodeId || p.isr.includes(nodeId));
      return still.length === 0 ? true : `still leader or in the ISR of ${still.map(describePartition).join('; ')}`;
    }, timeoutMs);
  }

  /**
   * Polls until every node is a live broker and every partition of every topic (internal ones included)
   * has a leader and all its replicas in sync: the cluster can lose any one node again.
   */
  async waitUntilHealthy(timeoutMs = 120_000): Promise<void> {
    await this.waitForBrokers(this.nodes.length, timeoutMs);
    await this.waitFor('every partition to have all its replicas in sync', async () => {
      const topics = await this.withAdmin((a) => a.listTopics());
      const lagging = (await this.partitions(topics)).filter((p) => p.leader < 0 || p.isr.length < p.replicas.length);
      return lagging.length === 0 ? true : `not in sync: ${lagging.slice(0, 8).map(describePartition).join('; ')}${lagging.length > 8 ? ` (and ${lagging.length - 8} more)` : ''}`;
    }, timeoutMs);
  }

  /**
   * Polls until every running node, asked on its own, shows every partition of `topics` with a leader. A
   * node applies a new topic's metadata a moment after the controller, and a client whose first metadata
   * request goes to such a node fails (kafkajs' consumer.subscribe does not retry UNKNOWN_TOPIC_OR_PARTITION).
   */
  async waitUntilEveryNodeKnows(topics: string[], timeoutMs = 60_000): Promise<void> {
    for (const n of this.nodes.filter((x) => x.pid !== undefined)) {
      await this.waitFor(`node ${n.node.id} to know ${topics.join(', ')}`, async () => {
        // Seeded with this node only: a fresh client's metadata requests go to its seed.
        const admin = this.kafkaOf([n]).admin();
        await admin.connect();
        try {
          const meta = await admin.fetchTopicMetadata({ topics });
          const missing = topics.filter((t) => !meta.topics.some((m) => m.name === t && m.partitions.length > 0 && m.partitions.every((p) => p.leader >= 0)));
          return missing.length === 0 ? true : `no leader for every partition of ${missing.join(', ')}`;
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      }, timeoutMs);
    }
  }

  /** Polls until `count` brokers are live in the cluster's metadata. */
  async waitForBrokers(count: number, timeoutMs = 120_000): Promise<void> {
    await this.waitFor(`${count} live brokers`, async () => {
      const brokers = await this.withAdmin(async (a) => (await a.describeCluster()).brokers.map((b) => b.nodeId));
      return brokers.length >= count ? true : `live brokers: ${brokers.join(', ') || 'none'}`;
    }, timeoutMs);
  }

  /** The last lines of every node's log, for failure messages. */
  logTails(lines = 15): string {
    return this.nodes.map((n) => failureMessage(
      `node ${n.node.id} (${n.pid === undefined ? 'down' : `pid ${n.pid}`})`, readLogFrom(n.service.logFile), n.service.logFile, lines,
    )).join('\n');
  }

  /**
   * Kills every node and deletes the cluster's dir. SIGKILL, not a clean stop: the data goes anyway, and the
   * last node of a quorum waits for a controller that is gone before a clean shutdown gives up.
   */
  async destroy(): Promise<void> {
    const pids = new Set(this.nodes.flatMap((n) => (n.pid === undefined ? [] : [n.pid])));
    // Any JVM of this cluster's dir, also one whose start failed half-way.
    for (const pid of findProcesses([`-Dklinestream.stack.home=${this.dir}`])) pids.add(pid);
    for (const pid of pids) signalGroup(pid, 'SIGKILL');
    const exited = await Promise.all([...pids].map((pid) => waitForExit(pid, 10_000)));
    for (const n of this.nodes) n.pid = undefined;
    fs.rmSync(this.dir, { recursive: true, force: true });
    const left = [...pids].filter((_, i) => !exited[i]);
    if (left.length > 0) throw new Error(`cluster JVMs ${left.join(', ')} survived SIGKILL`);
  }

  /** Polls `check` (true, or why not yet) every 250 ms; on timeout the error carries the last answer and the logs. */
  async waitFor(what: string, check: () => Promise<true | string>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'not checked yet';
    for (;;) {
      try {
        const answer = await check();
        if (answer === true) return;
        last = answer;
      } catch (e) {
        // A node that just died or is starting makes requests fail for a moment: that is what is waited out.
        last = `request failed: ${e instanceof Error ? e.message : String(e)}`;
      }
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})\n${this.logTails()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  private byId(nodeId: number): NodeProcess {
    const n = this.nodes.find((x) => x.node.id === nodeId);
    if (n === undefined) throw new Error(`no node ${nodeId} (nodes ${this.nodeIds.join(', ')})`);
    return n;
  }

  private async startNode(n: NodeProcess): Promise<void> {
    n.pid = (await startService(n.service, this.artifacts, createLogger({ level: 'error' }), START_TIMEOUT_MS)).pid;
  }
}

function describePartition(p: PartitionState): string {
  return `${p.topic}-${p.partition} (leader ${p.leader}, isr ${p.isr.join(',')} of ${p.replicas.join(',')})`;
}

/** One node as a stack service: its own properties, log and pid file; found by the cluster dir on its command line. */
function nodeProcess(dir: string, node: ClusterNode, nodes: ClusterNode[]): NodeProcess {
  const nodeDir = path.join(dir, `node-${node.id}`);
  const propertiesFile = path.join(nodeDir, 'server.properties');
  const markers = [`-Dklinestream.stack.home=${dir}`, `-Dklinestream.stack.service=kafka-node-${node.id}`];
  const address = `127.0.0.1:${node.kafkaPort}`;
  const service: Service = {
    name: 'kafka',
    label: `kafka node ${node.id}`,
    address,
    ports: [node.kafkaPort, node.controllerPort],
    logFile: path.join(nodeDir, 'kafka.log'),
    pidFile: path.join(nodeDir, 'kafka.pid'),
    markers,
    probe: (timeoutMs) => probeKafka(address, timeoutMs),
    stopTimeoutMs: 30_000,
    async prepare(artifacts) {
      fs.mkdirSync(nodeDir, { recursive: true });
      fs.writeFileSync(propertiesFile, renderClusterNodeProperties(node, nodes));
      return {
        command: 'java',
        cwd: nodeDir,
        args: [
          ...NODE_HEAP, '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:+ExitOnOutOfMemoryError', '-Djava.awt.headless=true',
          `-Dlog4j.configuration=file:${stackScript('log4j.properties')}`,
          `-Dkafka.logs.dir=${nodeDir}`,
          ...markers,
          '-cp', path.join(artifacts.kafkaLibs, '*'), 'kafka.Kafka', propertiesFile,
        ],
      };
    },
  };
  return { node, service, propertiesFile, pid: undefined };
}

/** `kafka.tools.StorageTool format` of one node's data dir with the cluster's id (all nodes share it). */
async function formatNode(n: NodeProcess, artifacts: Artifacts, clusterId: string): Promise<void> {
  const nodeDir = path.dirname(n.propertiesFile);
  fs.mkdirSync(n.node.dataDir, { recursive: true });
  // The same file the node starts with: format reads log.dirs, node.id and the voters from it.
  await n.service.prepare(artifacts, createLogger({ level: 'error' }));
  const logFile = path.join(nodeDir, 'format.log');
  const fd = fs.openSync(logFile, 'w');
  const ended = await new Promise<string>((resolve) => {
    const child = spawn('java', [
      '-Xmx256m', `-Dlog4j.configuration=file:${stackScript('log4j.properties')}`,
      '-cp', path.join(artifacts.kafkaLibs, '*'), 'kafka.tools.StorageTool', ...storageFormatArgs(clusterId, n.propertiesFile),
    ], { stdio: ['ignore', fd, fd] });
    child.on('error', (e) => resolve(`could not run java: ${e.message}`));
    child.on('exit', (code, signal) => resolve(code === 0 ? '' : describeExit(code, signal)));
  });
  fs.closeSync(fd);
  if (ended !== '' || !fs.existsSync(path.join(n.node.dataDir, 'meta.properties'))) {
    throw new Error(failureMessage(`formatting node ${n.node.id} failed (${ended || 'no meta.properties'})`, readLogFrom(logFile), logFile));
  }
}

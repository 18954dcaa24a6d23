/**
 * The server.properties of a node of the 3-node test cluster, read back as Kafka reads them: one quorum
 * that every node lists alike, per-node listeners and data dirs, and replication settings under which the
 * loss of one node loses no acknowledged record and stops no group or transaction.
 */
import { clusterProblems, quorumVoters, renderClusterNodeProperties, type ClusterNode } from '../../src/stack/cluster-properties';
import { parseProperties, renderServerProperties } from '../../src/stack/kafka-properties';

const nodes: ClusterNode[] = [1, 2, 3].map((id) => ({ id, kafkaPort: 21000 + id, controllerPort: 22000 + id, dataDir: `/tmp/c d/node-${id}/data` }));
const propsOf = (n: ClusterNode) => parseProperties(renderClusterNodeProperties(n, nodes));

describe('renderClusterNodeProperties', () => {
  it('makes every node broker and controller of one static 3-voter quorum, listed alike by all', () => {
    const voters = '1@127.0.0.1:22001,2@127.0.0.1:22002,3@127.0.0.1:22003';
    expect(quorumVoters(nodes)).toBe(voters);
    for (const n of nodes) {
      const p = propsOf(n);
      expect(p.get('process.roles')).toBe('broker,controller');
      expect(p.get('node.id')).toBe(String(n.id));
      expect(p.get('controller.quorum.voters')).toBe(voters);
      expect(p.get('controller.listener.names')).toBe('CONTROLLER');
    }
  });

  it('gives each node its own loopback listeners, advertised client port and data dir', () => {
    const p = propsOf(nodes[1]!);
    expect(p.get('listeners')).toBe('PLAINTEXT://127.0.0.1:21002,CONTROLLER://127.0.0.1:22002');
    expect(p.get('advertised.listeners')).toBe('PLAINTEXT://127.0.0.1:21002');
    expect(p.get('log.dirs')).toBe('/tmp/c d/node-2/data');
  });

  it('replicates every topic, internal ones included, three times with two in sync required', () => {
    const p = propsOf(nodes[0]!);
    expect(p.get('default.replication.factor')).toBe('3');
    expect(p.get('min.insync.replicas')).toBe('2');
    expect(p.get('offsets.topic.replication.factor')).toBe('3');
    expect(p.get('transaction.state.log.replication.factor')).toBe('3');
    expect(p.get('transaction.state.log.min.isr')).toBe('2');
    expect(p.get('unclean.leader.election.enable')).toBe('false');
  });

  it('fences a dead node within seconds', () => {
    const p = propsOf(nodes[0]!);
    expect(Number(p.get('broker.session.timeout.ms'))).toBeLessThanOrEqual(6000);
    expect(Number(p.get('broker.heartbeat.interval.ms'))).toBeLessThan(Number(p.get('broker.session.timeout.ms')) / 3);
  });

  it('keeps the single-node broker settings it does not override, and every key once', () => {
    const text = renderClusterNodeProperties(nodes[2]!, nodes);
    const single = parseProperties(renderServerProperties({ kafkaPort: 1, controllerPort: 2, dataDir: '/x' }));
    const p = parseProperties(text);
    for (const key of ['auto.create.topics.enable', 'group.initial.rebalance.delay.ms', 'log.retention.hours', 'offsets.topic.num.partitions']) {
      expect(p.get(key)).toBe(single.get(key));
    }
    const keys = text.split('\n').filter((l) => l.includes('=') && !l.startsWith('#')).map((l) => l.slice(0, l.indexOf('=')));
    expect(new Set(keys).size).toBe(keys.length);
    expect(text).not.toMatch(/0\.0\.0\.0|localhost/);
  });

  it('escapes backslashes in paths so Java reads them back unchanged', () => {
    const win = nodes.map((n) => ({ ...n, dataDir: `C:\\c\\node-${n.id}` }));
    const text = renderClusterNodeProperties(win[0]!, win);
    expect(text).toContain('log.dirs=C:\\\\c\\\\node-1\n');
    expect(parseProperties(text).get('log.dirs')).toBe('C:\\c\\node-1');
  });
});

describe('clusterProblems', () => {
  it('accepts three distinct nodes', () => {
    expect(clusterProblems(nodes)).toEqual([]);
  });

  it('names what would make the cluster fail to start', () => {
    expect(clusterProblems(nodes.slice(0, 2))).toEqual(['a cluster that survives the loss of a node needs 3 nodes or more, got 2']);
    const clash = [nodes[0]!, { ...nodes[1]!, id: 1, controllerPort: nodes[0]!.kafkaPort, dataDir: nodes[0]!.dataDir }, nodes[2]!];
    expect(clusterProblems(clash)).toEqual([
      'node ids repeat: 1, 1, 3',
      'ports repeat: 21001, 22001, 21002, 21001, 21003, 22003',
      'two nodes share a data directory',
    ]);
    expect(() => renderClusterNodeProperties(nodes[0]!, nodes.slice(0, 2))).toThrow(/invalid cluster: a cluster that survives/);
    expect(() => renderClusterNodeProperties({ ...nodes[0]! }, nodes)).toThrow(/node 1 is not one of the cluster's nodes/);
  });
});

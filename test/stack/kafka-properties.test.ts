import { isValidClusterId, newClusterId, parseProperties, renderServerProperties } from '../../src/stack/kafka-properties';

describe('renderServerProperties', () => {
  const text = renderServerProperties({ kafkaPort: 29092, controllerPort: 29093, dataDir: '/var/tmp/ks data/kafka' });
  const props = parseProperties(text);

  it('describes one KRaft node that is both broker and controller, voting for itself', () => {
    expect(props.get('process.roles')).toBe('broker,controller');
    expect(props.get('node.id')).toBe('1');
    expect(props.get('controller.quorum.voters')).toBe('1@127.0.0.1:29093');
    expect(props.get('controller.listener.names')).toBe('CONTROLLER');
  });

  it('binds both listeners to loopback on the configured ports and advertises the client port only', () => {
    expect(props.get('listeners')).toBe('PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093');
    expect(props.get('advertised.listeners')).toBe('PLAINTEXT://127.0.0.1:29092');
    expect(text).not.toMatch(/0\.0\.0\.0|localhost/);
  });

  it('uses replication factor 1 for every internal topic, or groups and transactions would hang', () => {
    expect(props.get('offsets.topic.replication.factor')).toBe('1');
    expect(props.get('transaction.state.log.replication.factor')).toBe('1');
    expect(props.get('transaction.state.log.min.isr')).toBe('1');
    expect(props.get('group.initial.rebalance.delay.ms')).toBe('0');
  });

  it('puts the data under the given directory, spaces and all', () => {
    expect(props.get('log.dirs')).toBe('/var/tmp/ks data/kafka');
  });

  it('escapes backslashes so Java reads the path back unchanged', () => {
    const win = renderServerProperties({ kafkaPort: 1, controllerPort: 2, dataDir: 'C:\\cache\\kafka' });
    expect(win).toContain('log.dirs=C:\\\\cache\\\\kafka\n');
    expect(parseProperties(win).get('log.dirs')).toBe('C:\\cache\\kafka');
  });

  it('has no duplicate keys', () => {
    const keys = text.split('\n').filter((l) => l.includes('=') && !l.startsWith('#')).map((l) => l.slice(0, l.indexOf('=')));
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('cluster ids', () => {
  it('are 22 URL-safe base64 characters, as kafka-storage random-uuid prints, and differ each time', () => {
    const ids = Array.from({ length: 50 }, newClusterId);
    for (const id of ids) expect(isValidClusterId(id)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('rejects malformed ids', () => {
    expect(isValidClusterId('')).toBe(false);
    expect(isValidClusterId('abc')).toBe(false);
    expect(isValidClusterId('P5rbEqe78JyszWGB7Jj-Yw=')).toBe(false);
    expect(isValidClusterId('P5rbEqe78JyszWGB7Jj+Yw')).toBe(false);
  });
});

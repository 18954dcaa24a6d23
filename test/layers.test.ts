/**
 * Imports of src/ run only down the layers (test/support/import-graph.ts): cli -> run/web ->
 * producer/worker/downstream -> kafka/codec/symbols -> aggregation/exchange -> config/observability/errors,
 * and src/stack is imported only by the CLI and the supervisor.
 */
import * as path from 'node:path';
import { importsOf, LAYERS, layerOf, SRC, sourceFiles, STACK_USERS, type ImportEdge } from './support/import-graph';


const label = (e: ImportEdge) => `${e.from} -> ${e.to}${e.typeOnly ? ' (type)' : ''}`;

function edges(): ImportEdge[] {
  return sourceFiles().flatMap(importsOf).filter((e) => !e.to.startsWith('..'));
}

describe('module layering of src/', () => {
  it('knows the layer of every module', () => {
    const unknown = sourceFiles().map((f) => layerOf(path.relative(SRC, f))).filter((l) => LAYERS[l] === undefined);
    expect([...new Set(unknown)]).toEqual([]);
  });

  it('has no import from a lower layer to a higher one', () => {
    const upward = edges().filter((e) => LAYERS[layerOf(e.to)]! > LAYERS[layerOf(e.from)]!).map(label);
    expect(upward).toEqual([]);
  });

  it('imports src/stack only from the CLI and the supervisor', () => {
    const stackUsers = edges()
      .filter((e) => layerOf(e.to) === 'stack' && !STACK_USERS.some((u) => e.from.startsWith(u)))
      .map(label);
    expect(stackUsers).toEqual([]);
  });

  it('finds the edges it checks (the scanner is not blind)', () => {
    const all = edges().map(label);
    expect(all).toContain('cli/run-command.ts -> stack/stack');
    expect(all).toContain('kafka/client.ts -> config/connection (type)');
    expect(all).toContain('index.ts -> kafka/kafkajs-patch');
    expect(all).toContain('aggregation/intervals.ts -> config/interval-names');
  });
});

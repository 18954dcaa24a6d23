/**
 * The README is part of the interface: its configuration table lists exactly the settings the code reads,
 * and it gives the test command that CI runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeSettings } from '../src/config/config';

const root = path.resolve(__dirname, '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

describe('README', () => {
  it('lists every configuration setting, and no other, in its table', () => {
    const documented = [...readme.matchAll(/^\| `([A-Z_]+)` \| `(--[a-z-]+)` \|/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
    expect(documented).toEqual(describeSettings().map((s) => `${s.env} ${s.flag}`).sort());
  });

  it('gives npm test as the test command, which .ci/run runs', () => {
    expect(readme).toMatch(/^npm test\b/m);
    expect(fs.readFileSync(path.join(root, '.ci/run'), 'utf8')).toMatch(/npm test/);
  });
});

// @tier shared-fixtures: reads ../shared/fixtures (or DOCONV_ZOO_FIXTURES); skipped where absent, a failure under CI=true (vitest.config.ts).
// Real checkpoints written by real framework releases (../shared/fixtures/realworld): every tensor
// the framework's own tooling sees (name, shape, dtype; EXPECTED.json) is what our readers see.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { inspectFile } from '../src/inspect.js';
import { fixture } from './helpers/paths.js';

const expected = JSON.parse(readFileSync(fixture('realworld', 'EXPECTED.json'), 'utf8')) as Record<string, { tensors: [string, number[], string][] }>;

describe('real-world checkpoints: the tensors their frameworks see', () => {
  it.each(Object.keys(expected))('%s', async (file) => {
    const report = await inspectFile(fixture('realworld', file));
    const ours = new Map(report.tensors.map((t) => [t.name, [t.shape, t.dtype]]));
    const theirs = new Map(expected[file]!.tensors.map(([name, shape, dtype]) => [name, [shape, dtype]]));
    expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
    for (const [name, want] of theirs) expect([name, ours.get(name)]).toEqual([name, want]);
  });
});

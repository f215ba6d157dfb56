import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';

const testDb = useTestDatabase();
const dir = mkdtempSync(path.join(os.tmpdir(), 'hindsight-label-cli-'));

const hindsight = (args: string[]) => runHindsightInProcess(args, { DATABASE_URL: testDb.url });

function definitionFile(name: string, content: object): string {
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(content));
  return file;
}

const base = {
  name: 'returns',
  model_name: 'recs',
  task: 'binary',
  window: 'P30D',
  positive_outcome_types: ['return'],
  slices: ['region'],
};

describe('hindsight label-definition', () => {
  it('puts, re-puts as a no-op, refuses a changed v1, and lists and shows the versions', async () => {
    const v1 = definitionFile('v1', { ...base, version: 1 });
    expect(await hindsight(['label-definition', 'put', v1, '--json'])).toMatchObject({ code: 0 });
    const again = await hindsight(['label-definition', 'put', v1, '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ outcome: 'unchanged', name: 'returns', version: 1 });

    const changed = await hindsight([
      'label-definition',
      'put',
      definitionFile('v1-changed', { ...base, version: 1, window: 'P60D' }),
      '--json',
    ]);
    expect(changed.code).toBe(2);
    expect(changed.stderr).toContain('returns@1 already exists with different content');

    const noChangelog = await hindsight(['label-definition', 'put', definitionFile('v2-bare', { ...base, version: 2, window: 'P60D' })]);
    expect(noChangelog.code).toBe(2);
    expect(noChangelog.stderr).toContain('changelog: a new version needs a changelog line');
    expect(
      (
        await hindsight([
          'label-definition',
          'put',
          definitionFile('v2', { ...base, version: 2, window: 'P60D', changelog: 'returns arrive within 60 days' }),
        ])
      ).code,
    ).toBe(0);

    const listed = await hindsight(['label-definition', 'list', '--json']);
    expect(
      JSON.parse(listed.stdout).map((row: { name: string; version: number; changelog: string | null }) => [
        row.name,
        row.version,
        row.changelog,
      ]),
    ).toEqual([
      ['returns', 1, null],
      ['returns', 2, 'returns arrive within 60 days'],
    ]);
    expect(JSON.parse((await hindsight(['label-definition', 'show', 'returns', '--json'])).stdout)).toMatchObject({
      version: 2,
      window: 'P60D',
    });
    expect(JSON.parse((await hindsight(['label-definition', 'show', 'returns@1', '--json'])).stdout)).toMatchObject({
      version: 1,
      window: 'P30D',
    });
    const missing = await hindsight(['label-definition', 'show', 'returns@9']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('returns@9 not found');
  });

  it('refuses a zero window at put with a message naming the file and the field, storing nothing', async () => {
    const file = definitionFile('zero-window', { ...base, name: 'zero', version: 1, window: 'P0D', checkpoints: ['P2D', 'P1D'] });
    const put = await hindsight(['label-definition', 'put', file]);
    expect(put.code).toBe(2);
    expect(put.stderr).toContain(`${file}: window: P0D is zero`);
    expect(put.stderr).toContain(`${file}: checkpoints.1: checkpoint P1D is not longer than the one before it, P2D`);
    expect(await testDb.db('label_definitions').where({ name: 'zero' })).toEqual([]);
  });
});

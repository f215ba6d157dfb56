import { describe, expect, it } from 'vitest';
import { getLabelDefinition, listLabelDefinitions, putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { useTestDatabase } from '../support/database';
import { LabelDefinitionError, parseLabelDefinitionRef } from '../../contracts/label-definition';

const testDb = useTestDatabase();

const chargebacks = {
  name: 'chargeback-90d',
  version: 1,
  model_name: 'fraud',
  task: 'binary',
  window: 'P90D',
  checkpoints: ['P30D', 'P60D'],
  positive_outcome_types: ['chargeback'],
  slices: ['region', 'segment.device'],
  costs: { fp: 1, fn: 20 },
};

async function storedRows(name: string) {
  return testDb.db('label_definitions').where({ name }).orderBy('version').select('version', 'definition', 'changelog', 'content_hash');
}

describe('label definitions', () => {
  it('stores a new version and reads it back with its defaults filled in', async () => {
    const { outcome, definition } = await putLabelDefinition(testDb.db, { ...chargebacks, name: 'stored' });
    expect(outcome).toBe('created');
    const read = await getLabelDefinition(testDb.db, { name: 'stored', version: 1 });
    expect(read).toEqual(definition);
    expect(read).toMatchObject({ absent_means: 'negative', decision_threshold: 0.5, late_label_grace: 'P30D' });
  });

  it('treats putting identical content again as a no-op, whatever the key order or spelled-out defaults', async () => {
    await putLabelDefinition(testDb.db, { ...chargebacks, name: 'idempotent' });
    const before = await storedRows('idempotent');
    const reordered = Object.fromEntries(
      Object.entries({ ...chargebacks, name: 'idempotent', decision_threshold: 0.5, absent_means: 'negative' }).reverse(),
    );
    const again = await putLabelDefinition(testDb.db, reordered);
    expect(again.outcome).toBe('unchanged');
    expect(await storedRows('idempotent')).toEqual(before);
  });

  it('refuses different content under an existing name and version, and keeps the stored one', async () => {
    await putLabelDefinition(testDb.db, { ...chargebacks, name: 'immutable' });
    const before = await storedRows('immutable');
    await expect(
      putLabelDefinition(testDb.db, { ...chargebacks, name: 'immutable', window: 'P60D', checkpoints: ['P30D'] }),
    ).rejects.toThrowError(/immutable@1 already exists with different content.*put version 2 with a changelog/);
    expect(await storedRows('immutable')).toEqual(before);
  });

  it('requires a changelog line for a version after the first', async () => {
    await putLabelDefinition(testDb.db, { ...chargebacks, name: 'versioned' });
    await expect(putLabelDefinition(testDb.db, { ...chargebacks, name: 'versioned', version: 2, window: 'P120D' })).rejects.toThrowError(
      /changelog: a new version needs a changelog line/,
    );
    const v2 = await putLabelDefinition(testDb.db, {
      ...chargebacks,
      name: 'versioned',
      version: 2,
      window: 'P120D',
      changelog: 'chargebacks now arrive up to 120 days late',
    });
    expect(v2.outcome).toBe('created');
  });

  it('shows the latest version by NAME and a given one by NAME@VERSION', async () => {
    await putLabelDefinition(testDb.db, { ...chargebacks, name: 'shown' });
    await putLabelDefinition(testDb.db, {
      ...chargebacks,
      name: 'shown',
      version: 2,
      costs: { fp: 1, fn: 40 },
      changelog: 'missed fraud costs twice as much',
    });
    expect((await getLabelDefinition(testDb.db, parseLabelDefinitionRef('shown'))).version).toBe(2);
    expect((await getLabelDefinition(testDb.db, parseLabelDefinitionRef('shown@1'))).costs).toEqual(chargebacks.costs);
    await expect(getLabelDefinition(testDb.db, parseLabelDefinitionRef('shown@3'))).rejects.toThrowError(/shown@3 not found/);
    expect(() => parseLabelDefinitionRef('shown@latest')).toThrowError(LabelDefinitionError);
  });

  it('lists every version in name and version order with its changelog', async () => {
    await putLabelDefinition(testDb.db, { ...chargebacks, name: 'listed-b' });
    await putLabelDefinition(testDb.db, { ...chargebacks, name: 'listed-a', version: 1 });
    await putLabelDefinition(testDb.db, {
      ...chargebacks,
      name: 'listed-a',
      version: 2,
      window: 'P30D',
      checkpoints: ['P7D'],
      changelog: 'a shorter window',
    });
    const listed = (await listLabelDefinitions(testDb.db)).filter((row) => row.name.startsWith('listed-'));
    expect(listed.map((row) => [row.name, row.version, row.changelog])).toEqual([
      ['listed-a', 1, null],
      ['listed-a', 2, 'a shorter window'],
      ['listed-b', 1, null],
    ]);
  });

  it('keeps stored versions immutable in the database itself', async () => {
    await putLabelDefinition(testDb.db, { ...chargebacks, name: 'frozen' });
    await expect(testDb.db('label_definitions').where({ name: 'frozen' }).update({ changelog: 'sneaky edit' })).rejects.toThrowError(
      /immutable/,
    );
    await expect(testDb.db('label_definitions').where({ name: 'frozen' }).delete()).rejects.toThrowError(/immutable/);
  });

  it('rejects a slice dimension outside the known set before it can reach SQL', async () => {
    await expect(
      putLabelDefinition(testDb.db, { ...chargebacks, name: 'unsafe', slices: ["segment.device'; drop table predictions; --"] }),
    ).rejects.toThrowError(/slices\.0: must be region, environment, model_version or segment\.<key>/);
    await expect(putLabelDefinition(testDb.db, { ...chargebacks, name: 'unsafe', slices: ['user_id'] })).rejects.toThrowError(
      LabelDefinitionError,
    );
    expect(await storedRows('unsafe')).toEqual([]);
  });

  it('rejects checkpoints that do not fall inside the window', async () => {
    await expect(putLabelDefinition(testDb.db, { ...chargebacks, name: 'late-checkpoint', checkpoints: ['P90D'] })).rejects.toThrowError(
      /checkpoint P90D is not shorter than the window P90D/,
    );
  });

  it('reads a version stored under older rules without judging it by the newer put-time rules', async () => {
    // Unordered checkpoints, accepted before put refused them: its cohorts must stay evaluable.
    const definition = { ...chargebacks, name: 'stored-earlier', checkpoints: ['P60D', 'P30D'] };
    await testDb
      .db('label_definitions')
      .insert({ name: definition.name, version: 1, model_name: 'fraud', task: 'binary', definition, content_hash: 'older' });
    expect(await getLabelDefinition(testDb.db, { name: 'stored-earlier' })).toMatchObject({
      checkpoints: ['P60D', 'P30D'],
      late_label_grace: 'P30D',
    });
  });
});

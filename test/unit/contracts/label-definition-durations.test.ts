import { describe, expect, it } from 'vitest';
import { formatIssues, labelDefinitionSchema } from '../../../contracts/label-definition';

const base = {
  name: 'chargebacks',
  version: 1,
  model_name: 'fraud',
  task: 'binary',
  window: 'P90D',
  positive_outcome_types: ['chargeback'],
};

/** The readable message `label-definition put` prints for a definition, or null when it is accepted. */
function problems(overrides: object): string | null {
  const parsed = labelDefinitionSchema.safeParse({ ...base, ...overrides });
  return parsed.success ? null : formatIssues(parsed.error, 'def.json');
}

describe('label definition durations', () => {
  it('rejects a window of zero, naming the field', () => {
    expect(problems({ window: 'P0D' })).toBe('def.json: window: P0D is zero; a label window must be longer than zero');
    expect(problems({ window: 'PT0S' })).toMatch(/^def\.json: window: PT0S is zero/);
  });

  it('rejects a checkpoint of zero', () => {
    expect(problems({ checkpoints: ['P0D', 'P30D'] })).toBe(
      'def.json: checkpoints.0: checkpoint P0D is zero; a checkpoint must be longer than zero',
    );
  });

  it('rejects repeated checkpoints', () => {
    expect(problems({ checkpoints: ['P30D', 'P30D'] })).toBe('def.json: checkpoints.1: checkpoint P30D repeats; list each checkpoint once');
  });

  it('rejects checkpoints out of increasing order, also where only the calendar could order them', () => {
    expect(problems({ checkpoints: ['P60D', 'P30D'] })).toMatch(
      /^def\.json: checkpoints\.1: checkpoint P30D is not longer than the one before it, P60D; list checkpoints in increasing order$/,
    );
    expect(problems({ checkpoints: ['P1M', 'P30D'] })).toMatch(
      /checkpoints\.1: checkpoint P30D is not always longer than the one before it, P1M \(a month lasts 28 to 31 days/,
    );
    expect(problems({ checkpoints: ['P7D', 'P1M', 'P60D'] })).toBeNull();
  });

  it('rejects a checkpoint at or after the window, also a P1M checkpoint in a P30D window', () => {
    expect(problems({ checkpoints: ['P90D'] })).toBe('def.json: checkpoints.0: checkpoint P90D is not shorter than the window P90D');
    expect(problems({ window: 'P30D', checkpoints: ['P1M'] })).toMatch(
      /checkpoints\.0: checkpoint P1M is not always shorter than the window P30D \(a month lasts 28 to 31 days/,
    );
    expect(problems({ window: 'P1M', checkpoints: ['P27D'] })).toBeNull();
  });

  it('rejects a window or grace so long that ts_pred + window leaves the timestamp range', () => {
    expect(problems({ window: 'P300000Y' })).toMatch(
      /^def\.json: window: window P300000Y \+ late_label_grace P30D is too long: .*at most 100 years/,
    );
    expect(problems({ window: `P${'9'.repeat(400)}D` })).toMatch(/^def\.json: window: .* is too long/);
    expect(problems({ late_label_grace: 'P200Y' })).toMatch(/^def\.json: late_label_grace: .* is too long/);
    expect(problems({ window: 'P10Y' })).toBeNull();
  });
});

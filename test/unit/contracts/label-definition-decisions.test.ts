import { describe, expect, it } from 'vitest';
import { formatIssues, labelDefinitionSchema, positiveDecisions } from '../../../contracts/label-definition';

const base = { name: 'approvals', version: 1, model_name: 'credit', task: 'binary', window: 'P30D', positive_outcome_types: ['default'] };

function problems(overrides: object): string | null {
  const parsed = labelDefinitionSchema.safeParse({ ...base, ...overrides });
  return parsed.success ? null : formatIssues(parsed.error, 'def.json');
}

describe('decision_source in the label definition', () => {
  it('is absent by default, so a definition stored before it keeps its canonical form', () => {
    const parsed = labelDefinitionSchema.parse(base);
    expect('decision_source' in parsed).toBe(false);
    expect(positiveDecisions(parsed)).toEqual(['true', '1']);
  });

  it('takes threshold or logged, and positive_decisions with logged only', () => {
    expect(problems({ decision_source: 'logged', positive_decisions: ['approve'] })).toBeNull();
    expect(problems({ decision_source: 'threshold' })).toBeNull();
    expect(problems({ decision_source: 'score' })).toMatch(/^def\.json: decision_source: /);
    expect(problems({ positive_decisions: ['approve'] })).toBe(
      'def.json: positive_decisions: positive_decisions needs decision_source: logged',
    );
    expect(problems({ decision_source: 'logged', positive_decisions: [] })).toMatch(/^def\.json: positive_decisions: /);
  });

  it('refuses logged decisions for a regression definition, naming the field', () => {
    expect(problems({ task: 'regression', positive_outcome_types: [], outcome_types: ['amount'], decision_source: 'logged' })).toBe(
      "def.json: decision_source: logged decisions decide binary predictions; this definition's task is regression",
    );
  });
});

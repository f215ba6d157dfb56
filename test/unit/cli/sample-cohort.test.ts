import { describe, expect, it } from 'vitest';
import { generateSampleCohort } from '../../../cli/sample-cohort';

const base = {
  model: 'fraud-model',
  version: '1.0.0',
  environment: 'production',
  start: new Date('2026-01-01T00:00:00Z'),
  end: new Date('2026-01-01T00:01:00Z'),
  count: 400,
  maxEventDelayMs: 40_000,
  maxReceiptDelayMs: 20_000,
};

describe('generateSampleCohort (the dev --sample data)', () => {
  it('is the same for the same seed, and reports outcomes within the receipt delay of their event', () => {
    const a = generateSampleCohort(base);
    const b = generateSampleCohort(base);
    expect(a.predictions.map((p) => [p.ts_pred, p.score])).toEqual(b.predictions.map((p) => [p.ts_pred, p.score]));
    expect(a.outcomes.length).toBeGreaterThan(50);
    for (const o of a.outcomes) {
      const delay = Date.parse(o.ts_received as string) - Date.parse(o.ts_event as string);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(base.maxReceiptDelayMs);
    }
  });

  it('reports the late share only after finalization, inside the given span', () => {
    const from = new Date(base.end.getTime() + 65_000);
    const { outcomes } = generateSampleCohort({ ...base, lateReceipts: { share: 0.1, from, spanMs: 15_000 } });
    const late = outcomes.filter((o) => Date.parse(o.ts_received as string) >= from.getTime());
    expect(late.length).toBeGreaterThan(0);
    expect(late.length).toBeLessThan(outcomes.length / 3);
    for (const o of late) expect(Date.parse(o.ts_received as string)).toBeLessThan(from.getTime() + 15_000);
  });
});

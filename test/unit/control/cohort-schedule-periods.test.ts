import { describe, expect, it } from 'vitest';
import { periodEndsWithin, planBackfill, schedulePeriods, type CohortScheduleMemo } from '../../../control/cohort-schedules';

const DAY = 86_400_000;
const at = (iso: string) => Date.parse(iso);

describe('schedule periods', () => {
  it('starts daily periods at midnight UTC and hourly ones on the hour', () => {
    expect(schedulePeriods('P1D')).toEqual({ everyMs: DAY, offsetMs: 0 });
    expect(schedulePeriods('PT1H')).toEqual({ everyMs: 3_600_000, offsetMs: 0 });
  });

  it('starts weekly periods on Mondays', () => {
    const periods = schedulePeriods('P7D');
    const [end] = periodEndsWithin(periods, at('2026-11-30T00:00:00Z'), at('2026-12-31T00:00:00Z'));
    expect(new Date(end!).toISOString()).toBe('2026-12-07T00:00:00.000Z');
    expect(new Date(end! - periods.everyMs).getUTCDay()).toBe(1);
    expect(schedulePeriods('P1W')).toEqual(periods);
  });

  it('aligns periods to --start-at', () => {
    const periods = schedulePeriods('P1D', '2026-03-02T06:00:00Z');
    expect(periodEndsWithin(periods, at('2026-03-02T06:00:00Z'), at('2026-03-04T06:00:00Z')).map((t) => new Date(t).toISOString())).toEqual(
      ['2026-03-03T06:00:00.000Z', '2026-03-04T06:00:00.000Z'],
    );
  });

  it('opens only periods that lie wholly within [from, to)', () => {
    const periods = schedulePeriods('P1D');
    const ends = (from: string, to: string) =>
      periodEndsWithin(periods, at(from), at(to)).map((t) => new Date(t).toISOString().slice(0, 10));
    expect(ends('2026-01-01T00:00:00Z', '2026-01-04T00:00:00Z')).toEqual(['2026-01-02', '2026-01-03', '2026-01-04']);
    // A partial first or last day is not a period of this schedule.
    expect(ends('2026-01-01T00:00:01Z', '2026-01-03T23:59:59Z')).toEqual(['2026-01-03']);
    expect(ends('2026-01-01T12:00:00Z', '2026-01-02T12:00:00Z')).toEqual([]);
  });

  it('refuses calendar and sub-second periods with a message naming --every', () => {
    expect(() => schedulePeriods('P1M')).toThrow(/--every P1M must be a fixed ISO-8601 duration/);
    expect(() => schedulePeriods('P1Y')).toThrow(/months and years vary in length/);
    expect(() => schedulePeriods('PT0.5S')).toThrow(/--every PT0.5S must be a whole number of seconds/);
    expect(() => schedulePeriods('P1D', '2026-01-01T00:00:00.250Z')).toThrow(/--start-at .* must fall on a whole second/);
  });

  it('refuses periods under a minute unless short periods are allowed, and periods over ten years', () => {
    expect(() => schedulePeriods('PT1S')).toThrow(
      'schedule: --every PT1S is shorter than the minimum of 1 minute (PT1M); pass --allow-short-periods to allow it (for tests and demos)',
    );
    expect(() => schedulePeriods('PT59S')).toThrow(/--allow-short-periods/);
    expect(schedulePeriods('PT1M')).toEqual({ everyMs: 60_000, offsetMs: 0 });
    expect(schedulePeriods('PT5S', undefined, { allowShortPeriods: true })).toEqual({ everyMs: 5_000, offsetMs: 0 });
    expect(() => schedulePeriods('P3654D')).toThrow('schedule: --every P3654D is longer than the maximum of 10 years');
  });
});

describe('schedule backfill plan', () => {
  const memo: CohortScheduleMemo = {
    model_name: 'fraud',
    model_version: 'v1',
    environment: null,
    label_definition: 'cb@1',
    every: 'P1D',
    every_ms: DAY,
    offset_ms: 0,
    start_at: null,
  };

  it('counts the periods without listing them and refuses more than 1,000 without force', () => {
    const from = '2026-01-01T00:00:00Z';
    const days = (at(from) - at('0001-01-01T00:00:00Z')) / DAY;
    expect(() => planBackfill('s', memo, '0001-01-01T00:00:00Z', from)).toThrow(
      `schedule backfill: [0001-01-01T00:00:00Z, 2026-01-01T00:00:00Z) holds ${days.toLocaleString('en-US')} periods of P1D, more than 1,000; ` +
        'narrow --from and --to, or pass --force to open them all',
    );
    const thousand = new Date(at(from) + 1000 * DAY).toISOString();
    const plan = planBackfill('s', memo, from, thousand);
    expect(plan).toMatchObject({
      period_count: 1000,
      first_period: { start: '2026-01-01T00:00:00.000Z', end: '2026-01-02T00:00:00.000Z' },
      last_period: { end: new Date(at(thousand)).toISOString() },
      ends: { first: at(from) + DAY, last: at(thousand) },
    });
    expect(plan.periods).toBeUndefined();
    const more = new Date(at(thousand) + DAY).toISOString();
    expect(() => planBackfill('s', memo, from, more)).toThrow(/holds 1,001 periods/);
    const forced = planBackfill('s', memo, from, more, { force: true, listPeriods: true });
    expect(forced.period_count).toBe(1001);
    expect(forced.periods).toHaveLength(1001);
    expect(forced.periods![1000]).toEqual(forced.last_period);
  });

  it('leaves out the periods before --start-at and counts them', () => {
    const plan = planBackfill('s', { ...memo, start_at: '2026-01-03T00:00:00Z' }, '2026-01-01T00:00:00Z', '2026-01-05T00:00:00Z');
    expect(plan).toMatchObject({ period_count: 2, skipped_before_start_at: 2, first_period: { start: '2026-01-03T00:00:00.000Z' } });
    expect(planBackfill('s', memo, '2026-01-01T12:00:00Z', '2026-01-02T12:00:00Z')).toMatchObject({
      period_count: 0,
      first_period: null,
      ends: null,
    });
  });
});

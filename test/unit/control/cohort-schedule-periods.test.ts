import { describe, expect, it } from 'vitest';
import { periodEndsWithin, schedulePeriods } from '../../../control/cohort-schedules';

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
});

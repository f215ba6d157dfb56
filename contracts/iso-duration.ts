import { z } from 'zod';

/** ISO-8601 durations as Postgres reads them (`P90D`, `PT36H`, `P1Y2M`); evaluated in SQL. */
const ISO_DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/;

export const isoDurationSchema = z.string().regex(ISO_DURATION, 'must be an ISO-8601 duration such as P30D or PT12H');

const DAY = 86400;
/** The shortest and longest a calendar unit can be in UTC (no leap seconds in Postgres). */
const UNIT_SECONDS: Record<string, { min: number; max: number }> = {
  Y: { min: 365 * DAY, max: 366 * DAY },
  M: { min: 28 * DAY, max: 31 * DAY },
  W: { min: 7 * DAY, max: 7 * DAY },
  D: { min: DAY, max: DAY },
};
const TIME_UNIT_SECONDS: Record<string, number> = { H: 3600, M: 60, S: 1 };

/**
 * The shortest and the longest a duration can last, in seconds, over every start instant:
 * months and years follow the calendar (exact arithmetic is Postgres' `timestamptz +
 * interval`), so `P1M` lasts 28 to 31 days. Two durations compare for certain only when
 * these ranges do not overlap.
 */
export function durationBounds(duration: string): { min: number; max: number } {
  const [datePart = '', timePart = ''] = duration.slice(1).split('T');
  let min = 0;
  let max = 0;
  for (const [, amount, unit] of datePart.matchAll(/(\d+)([YMWD])/g)) {
    min += Number(amount) * UNIT_SECONDS[unit!]!.min;
    max += Number(amount) * UNIT_SECONDS[unit!]!.max;
  }
  for (const [, amount, unit] of timePart.matchAll(/(\d+(?:\.\d+)?)([HMS])/g)) {
    min += Number(amount) * TIME_UNIT_SECONDS[unit!]!;
    max += Number(amount) * TIME_UNIT_SECONDS[unit!]!;
  }
  return { min, max };
}

/**
 * Exact length in milliseconds of a duration without years or months (`P7D`, `PT30S`,
 * `P1DT12H`), for fixed-length periods such as a schedule's; `undefined` for calendar ones.
 */
export function fixedDurationMs(duration: string): number | undefined {
  if (!isoDurationSchema.safeParse(duration).success) return undefined;
  const [datePart = '', timePart = ''] = duration.slice(1).split('T');
  if (/[YM]/.test(datePart)) return undefined;
  let total = 0;
  for (const [, amount, unit] of datePart.matchAll(/(\d+)([WD])/g)) total += Number(amount) * UNIT_SECONDS[unit!]!.min * 1000;
  for (const [, amount, unit] of timePart.matchAll(/(\d+(?:\.\d+)?)([HMS])/g))
    total += Math.round(Number(amount) * TIME_UNIT_SECONDS[unit!]! * 1000);
  return total;
}

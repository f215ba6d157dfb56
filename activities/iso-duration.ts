import { z } from 'zod';

/** ISO-8601 durations as Postgres reads them (`P90D`, `PT36H`, `P1Y2M`); evaluated in SQL. */
const ISO_DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/;

export const isoDurationSchema = z
  .string()
  .regex(ISO_DURATION, 'must be an ISO-8601 duration such as P30D or PT12H');

const UNIT_SECONDS: Record<string, number> = { Y: 365.25 * 86400, M: 30.4375 * 86400, W: 7 * 86400, D: 86400 };
const TIME_UNIT_SECONDS: Record<string, number> = { H: 3600, M: 60, S: 1 };

/**
 * Approximate length in seconds, only for ordering durations (checkpoints before the
 * window); exact calendar arithmetic happens in Postgres (`timestamptz + interval`).
 */
export function approximateSeconds(duration: string): number {
  const [datePart = '', timePart = ''] = duration.slice(1).split('T');
  let total = 0;
  for (const [, amount, unit] of datePart.matchAll(/(\d+)([YMWD])/g)) total += Number(amount) * UNIT_SECONDS[unit!]!;
  for (const [, amount, unit] of timePart.matchAll(/(\d+(?:\.\d+)?)([HMS])/g)) total += Number(amount) * TIME_UNIT_SECONDS[unit!]!;
  return total;
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
  for (const [, amount, unit] of datePart.matchAll(/(\d+)([WD])/g)) total += Number(amount) * UNIT_SECONDS[unit!]! * 1000;
  for (const [, amount, unit] of timePart.matchAll(/(\d+(?:\.\d+)?)([HMS])/g)) total += Math.round(Number(amount) * TIME_UNIT_SECONDS[unit!]! * 1000);
  return total;
}

/** Normalizes any offset-carrying timestamp to UTC ISO-8601 with milliseconds. */
export function toUtcIso(value: string | Date): string {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) throw new Error(`not a timestamp: ${String(value)}`);
  return date.toISOString();
}

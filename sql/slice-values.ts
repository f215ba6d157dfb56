/**
 * Slice values, read once: `hs_labeled` (./join-outcomes) carries the value of each of the
 * label definition's slice dimensions as columns v1..vJ, in the definition's order, so the
 * metric and latency SQL group by plain columns instead of digging into `segment` per row
 * per statement. Dimension names are checked by the label definition schema; segment keys
 * are read from the bound `:dims` array, never spliced in.
 */

/** The column name of slice dimension `i` (0-based). */
export function sliceColumn(i: number): string {
  return `v${i + 1}`;
}

/** `<value of dims[i] for predictions row alias> as v<i + 1>`, one per dimension. */
export function sliceValueColumns(dims: readonly string[], alias: string): string[] {
  return dims.map((dim, i) => {
    const value =
      dim === 'region' || dim === 'environment' || dim === 'model_version'
        ? `${alias}.${dim}`
        : dim.startsWith('segment.')
          ? `(${alias}.segment ->> substr((:dims::text[])[${i + 1}], ${'segment.'.length + 1}))`
          : null;
    if (value === null) throw new Error(`unknown slice dimension: ${dim}`);
    return `${value} as ${sliceColumn(i)}`;
  });
}

/**
 * A lateral relation g(dim, val) that repeats each row of `alias` once per group it belongs
 * to: overall (dimension '' with value '') and one per slice dimension.
 */
export function sliceGroups(dims: readonly string[], alias: string): string {
  const rows = [`('', ''::text)`, ...dims.map((_, i) => `((:dims::text[])[${i + 1}], ${alias}.${sliceColumn(i)})`)];
  return `cross join lateral (values ${rows.join(', ')}) as g(dim, val)`;
}

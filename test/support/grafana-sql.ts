/**
 * What Grafana sends a PostgreSQL data source for a panel's raw SQL, reproduced for tests:
 * first the front end's template variables (`$name`, `${name}`, `${name:format}`, `[[name]]`,
 * formatted as the SQL data sources format them), then the back end's macros
 * (grafana-postgresql-datasource's macros.go: `$__time`, `$__timeFilter`, `$__timeFrom`,
 * `$__timeTo`, `$__timeGroup`, `$__timeGroupAlias`, `$__unixEpochFilter`). An unknown macro or
 * variable is an error, as it would be in Grafana.
 */

export interface GrafanaVariable {
  value: string | string[];
  multi?: boolean;
  includeAll?: boolean;
}

export interface GrafanaContext {
  from: Date;
  to: Date;
  variables: Record<string, GrafanaVariable>;
}

const quote = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** The SQL data sources' `interpolateVariable` and the named formats the dashboard uses. */
function formatVariable(variable: GrafanaVariable, format: string | undefined): string {
  const values = Array.isArray(variable.value) ? variable.value : [variable.value];
  switch (format) {
    case 'raw':
    case 'csv':
      return values.join(',');
    case 'sqlstring':
      return values.map(quote).join(',');
    case undefined:
      if (Array.isArray(variable.value) || variable.multi || variable.includeAll) return values.map(quote).join(',');
      return variable.value as string;
    default:
      throw new Error(`variable format ${format} is not reproduced here`);
  }
}

export function interpolateVariables(sql: string, variables: Record<string, GrafanaVariable>): string {
  return sql.replace(/\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(?!__)(\w+)/g, (whole, braced, format, bracketed, plain) => {
    const name = (braced ?? bracketed ?? plain) as string;
    const variable = variables[name];
    if (!variable) throw new Error(`unknown template variable ${whole}`);
    return formatVariable(variable, format as string | undefined);
  });
}

/** Go's time.RFC3339Nano of a UTC instant: fractional seconds without trailing zeros. */
function rfc3339Nano(date: Date): string {
  return date.toISOString().replace(/\.?0+Z$/, 'Z');
}

/** gtime.ParseInterval for the units a dashboard writes: s, m, h, d, w. */
function intervalSeconds(text: string): number {
  const match = /^(\d+)(s|m|h|d|w)$/.exec(text.replace(/'/g, '').trim());
  if (!match) throw new Error(`error parsing interval ${text}`);
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[match[2] as 's' | 'm' | 'h' | 'd' | 'w'];
}

export function expandMacros(sql: string, from: Date, to: Date): string {
  return sql.replace(/\$(__\w+)\(([^)]*)\)/g, (_whole, name: string, params: string) => {
    // Grafana's pattern ends the arguments at the first ")", so an expression there is cut in two.
    if (params.includes('(')) throw new Error(`$${name}(${params}…: Grafana cuts a macro's arguments at the first ")"; use a column`);
    const args = params.split(',').map((arg) => arg.trim());
    const column = () => {
      if (!args[0]) throw new Error(`missing time column argument for macro ${name}`);
      return args[0];
    };
    switch (name) {
      case '__time':
        return `${column()} AS "time"`;
      case '__timeFilter':
        return `${column()} BETWEEN '${rfc3339Nano(from)}' AND '${rfc3339Nano(to)}'`;
      case '__timeFrom':
        return `'${rfc3339Nano(from)}'`;
      case '__timeTo':
        return `'${rfc3339Nano(to)}'`;
      case '__timeGroup':
      case '__timeGroupAlias': {
        if (args.length < 2) throw new Error(`macro ${name} needs time column and interval and optional fill value`);
        const seconds = intervalSeconds(args[1]!);
        const group = `floor(extract(epoch from ${column()})/${seconds})*${seconds}`;
        return name === '__timeGroupAlias' ? `${group} AS "time"` : group;
      }
      case '__unixEpochFilter':
        return `${column()} >= ${Math.floor(from.getTime() / 1000)} AND ${column()} <= ${Math.floor(to.getTime() / 1000)}`;
      default:
        throw new Error(`unknown macro "${name}"`);
    }
  });
}

/** A panel's or variable's SQL as the data source receives it. */
export function grafanaSql(sql: string, context: GrafanaContext): string {
  return expandMacros(interpolateVariables(sql, context.variables), context.from, context.to);
}

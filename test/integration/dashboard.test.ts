import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/database';
import { grafanaSql, type GrafanaContext, type GrafanaVariable } from '../support/grafana-sql';
import { HISTORY, seedMonitoringHistory, type SeededHistory } from '../support/monitoring-history';

// deploy/grafana/hindsight-dashboard.json against the hindsight_v_* views of a real database
// holding the lifecycle's history: every query, with Grafana's variables and macros expanded
// as Grafana expands them, runs and returns what its panel needs.

const testDb = useTestDatabase();
const DASHBOARD = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'deploy', 'grafana', 'hindsight-dashboard.json'), 'utf8'));

interface Target {
  format: 'time_series' | 'table';
  rawSql: string;
}
interface Panel {
  type: string;
  title: string;
  repeat?: string;
  targets?: Target[];
}

let history: SeededHistory;
let context: GrafanaContext;

const run = async (sql: string, variables: Record<string, GrafanaVariable> = context.variables) =>
  (await testDb.db.raw(grafanaSql(sql, { ...context, variables }))).rows as Array<Record<string, unknown>>;

beforeAll(async () => {
  history = await seedMonitoringHistory(testDb.db);
  // The variables as Grafana resolves them on load: each query variable's first value, in order.
  context = { from: new Date('2025-12-01T00:00:00Z'), to: new Date('2026-03-01T00:00:00Z'), variables: {} };
  for (const variable of DASHBOARD.templating.list) {
    if (variable.type === 'query') {
      const rows = await run(variable.query);
      context.variables[variable.name] = {
        value: String(Object.values(rows[0]!)[0]),
        multi: variable.multi,
        includeAll: variable.includeAll,
      };
    } else if (variable.type === 'custom') {
      context.variables[variable.name] = { value: variable.query.split(','), multi: variable.multi, includeAll: variable.includeAll };
    }
  }
}, 120_000);

/** Every panel's targets, a repeated panel once per value of its variable (as Grafana repeats it). */
function panelQueries(): Array<{ title: string; target: Target; variables: Record<string, GrafanaVariable> }> {
  return (DASHBOARD.panels as Panel[]).flatMap((panel) => {
    const values = panel.repeat ? (context.variables[panel.repeat]!.value as string[]) : [null];
    return values.flatMap((value) =>
      (panel.targets ?? []).map((target) => ({
        title: value === null ? panel.title : panel.title.replace(`\${${panel.repeat}}`, value),
        target,
        variables: value === null ? context.variables : { ...context.variables, [panel.repeat!]: { value } },
      })),
    );
  });
}

describe('the Grafana dashboard on the PostgreSQL views', () => {
  it('its template variables find the seeded model, version, environment and provisional checkpoint', () => {
    expect(context.variables).toMatchObject({
      model: { value: HISTORY.model },
      version: { value: HISTORY.version },
      environment: { value: HISTORY.environment },
      checkpoint: { value: 'P7D' },
    });
  });

  it('every time-series panel (each repeated metric too) returns a time column and numeric columns, rows in time order', async () => {
    const queries = panelQueries().filter((q) => q.target.format === 'time_series');
    expect(queries.length).toBeGreaterThanOrEqual(15 + 3);
    for (const { title, target, variables } of queries) {
      const rows = await run(target.rawSql, variables);
      expect(rows.length, title).toBeGreaterThan(0);
      const times = rows.map((row) => row.time);
      for (const row of rows) {
        const { time, ...values } = row;
        expect(time instanceof Date || typeof time === 'number', `${title}: time is ${typeof time}`).toBe(true);
        for (const [column, value] of Object.entries(values))
          expect(value === null || typeof value === 'number', `${title}: ${column}`).toBe(true);
      }
      const order = times.map((t) => (t instanceof Date ? t.getTime() : Number(t)));
      expect(order, title).toEqual([...order].sort((a, b) => a - b));
    }
  });

  it('the metric panels show each cohort at the same checkpoint: provisional, final first and latest revision apart', async () => {
    const rocAuc = panelQueries().find((q) => q.title === 'roc_auc per cohort')!;
    const rows = await run(rocAuc.target.rawSql, rocAuc.variables);
    expect(rows).toHaveLength(HISTORY.weeks);
    const snapshot = async (week: number, checkpoint: string, revision: number) =>
      (await testDb.db('metric_snapshots').where({ cohort_id: history.cohorts[week]!.cohort_id, checkpoint, revision }).first('document'))
        .document.overall.roc_auc;
    const revised = HISTORY.finalized - 1;
    expect(rows[revised]).toEqual({
      time: new Date(history.cohorts[revised]!.start),
      'provisional at P7D': await snapshot(revised, 'P7D', 1),
      'final, first revision': await snapshot(revised, 'final', 1),
      'final, latest revision': await snapshot(revised, 'final', 2),
    });
    expect(rows[revised]!['final, first revision']).not.toBe(rows[revised]!['final, latest revision']);
    // The newest week has no final yet.
    expect(rows[HISTORY.weeks - 1]).toMatchObject({ 'final, first revision': null, 'final, latest revision': null });
  });

  it('label availability is shown against the mean of the four cohorts before it at the same checkpoint', async () => {
    const panel = panelQueries().find((q) => q.title === 'Label availability against the expected curve')!;
    const rows = await run(panel.target.rawSql, panel.variables);
    const observed = rows.map((row) => row['availability at P7D'] as number);
    expect(rows[0]!['expected at P7D (four cohorts before)']).toBeNull();
    expect(rows[5]!['expected at P7D (four cohorts before)']).toBeCloseTo(
      (observed[1]! + observed[2]! + observed[3]! + observed[4]!) / 4,
      12,
    );
    expect(rows[2]!['expected at P7D (four cohorts before)']).toBeCloseTo((observed[0]! + observed[1]!) / 2, 12);
    expect(rows.slice(0, HISTORY.finalized).map((row) => row['availability at final'])).toEqual(Array(HISTORY.finalized).fill(1));
  });

  it('the table panel and the alert annotations run; an alert is annotated on its cohort with its diagnosis', async () => {
    const table = panelQueries().find((q) => q.target.format === 'table')!;
    const snapshots = await run(table.target.rawSql, table.variables);
    expect(snapshots).toHaveLength(HISTORY.weeks + HISTORY.finalized + 1);
    expect(snapshots.filter((row) => row.revision === 2)).toHaveLength(1);
    const annotation = DASHBOARD.annotations.list.find((a: { name: string }) => a.name === 'Hindsight alerts');
    const rows = await run(annotation.target.rawSql);
    expect(rows.map((row) => row.time)).toEqual([3, 4, 5].map((week) => new Date(history.cohorts[week]!.start)));
    expect(rows[2]).toMatchObject({
      text: expect.stringMatching(/^recall-drop \(critical, firing\): recall 0\.4 against 0\.6 at P7D r1, diagnosis: quality, fired 2026-/),
      tags: 'critical,relative_drop,firing',
    });
  });
});

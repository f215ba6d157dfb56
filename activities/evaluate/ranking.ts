/**
 * The ranking block of an evaluation under a `task: "ranking"` definition (docs/metrics.md,
 * "Ranking metrics"): the labeled rows of each request, overall and per slice value, reduced
 * to NDCG@k, MRR, hit rate, precision and recall by stats/ranking-metrics.
 */
import type { Knex } from 'knex';
import { rankingCutoff, type LabelDefinition } from '../../contracts/label-definition';
import { rankingRows, WITHOUT_REQUEST } from '../../sql/ranking-metrics';
import { sliceColumn } from '../../sql/slice-values';
import type { EvaluationBindings } from '../../sql/join-outcomes';
import { rankingMetrics, type RankedRequest, type RankingMetrics } from '../../stats/ranking-metrics';

interface Row {
  request_id: string;
  score: number | null;
  position: number;
  is_final: boolean;
  relevance: number;
  [column: string]: unknown;
}

type Request = RankedRequest & { final: boolean };

/** Collects one group's requests from rows in request order. */
class GroupRequests {
  readonly requests: Request[] = [];
  private id: string | null = null;
  private rows: Row[] = [];

  add(row: Row): void {
    if (row.request_id !== this.id) this.flush();
    this.id = row.request_id;
    this.rows.push(row);
  }

  flush(): void {
    if (this.rows.length === 0) return;
    const rows = this.rows;
    // A request with a row that logs no score is ranked as shown: by position.
    const scored = rows.every((row) => row.score !== null);
    this.requests.push({
      score: Float64Array.from(rows, (row) => (scored ? row.score! : -row.position)),
      relevance: Float64Array.from(rows, (row) => row.relevance),
      position: Float64Array.from(rows, (row) => row.position),
      final: rows.every((row) => row.is_final),
    });
    this.rows = [];
  }
}

export const rankingGroupKey = (dimension: string, value: string | null) => JSON.stringify([dimension, value]);

/** The ranking metrics per group (overall under dimension ''), keyed by {@link rankingGroupKey}, and the rows without a request. */
export async function evaluateRanking(
  trx: Knex.Transaction,
  def: LabelDefinition,
  bindings: EvaluationBindings,
): Promise<{ groups: Map<string, RankingMetrics>; without_request: number }> {
  const groups = new Map<string, GroupRequests>([[rankingGroupKey('', null), new GroupRequests()]]);
  const rows = (await trx.raw(rankingRows(def.slices), bindings)).rows as Row[];
  for (const row of rows) {
    groups.get(rankingGroupKey('', null))!.add(row);
    def.slices.forEach((dimension, i) => {
      const key = rankingGroupKey(dimension, (row[sliceColumn(i)] as string | null) ?? null);
      if (!groups.has(key)) groups.set(key, new GroupRequests());
      groups.get(key)!.add(row);
    });
  }
  const k = rankingCutoff(def);
  const metrics = new Map<string, RankingMetrics>();
  for (const [key, group] of groups) {
    group.flush();
    metrics.set(key, rankingMetrics(group.requests, k));
  }
  const withoutRequest = Number((await trx.raw(WITHOUT_REQUEST)).rows[0].n);
  return { groups: metrics, without_request: withoutRequest };
}

/**
 * Ranking metrics of `evaluate` under a `task: "ranking"` label definition (docs/metrics.md,
 * "Ranking metrics"): per request NDCG@k, reciprocal rank, hit, precision@k and recall@k,
 * averaged over the requests. A row is relevant when its relevance is above 0. The test
 * vectors come from test/fixtures/ranking/generate.py (scikit-learn's ndcg_score, NumPy).
 */

/** One request's rows. */
export interface RankedRequest {
  score: Float64Array;
  relevance: Float64Array;
  position: Float64Array;
}

export interface RankingMetrics {
  k: number;
  n_requests: number;
  /** Requests with at least one relevant row: the ones recall is averaged over. */
  n_requests_with_relevant: number;
  /** Requests whose every row has its final label. */
  n_final_requests: number;
  ndcg: number | null;
  mrr: number | null;
  hit_rate: number | null;
  precision: number | null;
  recall: number | null;
}

/**
 * scikit-learn's ndcg_score of one request at k: DCG with linear gain and 1 / log2(rank + 1)
 * discounts, rows tied in score sharing the mean of their gains over the ranks they span
 * (`_tie_averaged_dcg`), over the DCG of the relevances sorted; 0 when no row is relevant
 * (relevance > 0) or that ideal DCG is not positive (negative graded relevance, which
 * scikit-learn refuses).
 */
export function ndcgAt(score: Float64Array, relevance: Float64Array, k: number): number {
  const n = score.length;
  const discount = (rank: number) => (rank < k ? 1 / Math.log2(rank + 2) : 0);
  const ideal = Float64Array.from(relevance).sort().reverse();
  let idcg = 0;
  for (let rank = 0; rank < n; rank += 1) idcg += ideal[rank]! * discount(rank);
  // Nothing relevant (graded relevance can be negative: a refund), or an ideal DCG that negative
  // gains bring to 0 or below: 0, as docs/metrics.md says, not a ratio of two negatives.
  if (!(idcg > 0) || !relevance.some((r) => r > 0)) return 0;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => score[b]! - score[a]!);
  let dcg = 0;
  for (let from = 0; from < n;) {
    let to = from + 1;
    while (to < n && score[order[to]!] === score[order[from]!]) to += 1;
    let gain = 0;
    let discounts = 0;
    for (let rank = from; rank < to; rank += 1) {
      gain += relevance[order[rank]!]!;
      discounts += discount(rank);
    }
    dcg += (gain / (to - from)) * discounts;
    from = to;
  }
  return dcg / idcg;
}

interface RequestScores {
  ndcg: number;
  reciprocal_rank: number;
  hit: number;
  precision: number;
  recall: number | null;
}

/** One request's metrics; apart from NDCG, rows are ranked by score descending, then position ascending. */
export function requestMetrics(request: RankedRequest, k: number): RequestScores {
  const { score, relevance, position } = request;
  const order = Array.from({ length: score.length }, (_, i) => i).sort((a, b) => score[b]! - score[a]! || position[a]! - position[b]!);
  let first = -1;
  let top = 0;
  let total = 0;
  order.forEach((row, rank) => {
    if (!(relevance[row]! > 0)) return;
    total += 1;
    if (first < 0) first = rank;
    if (rank < k) top += 1;
  });
  return {
    ndcg: ndcgAt(score, relevance, k),
    reciprocal_rank: first < 0 ? 0 : 1 / (first + 1),
    hit: top > 0 ? 1 : 0,
    precision: top / k,
    recall: total > 0 ? top / total : null,
  };
}

/** The means over the requests (recall over those with a relevant row); null where no request counts. */
export function rankingMetrics(requests: Array<RankedRequest & { final: boolean }>, k: number): RankingMetrics {
  const sums = { ndcg: 0, reciprocal_rank: 0, hit: 0, precision: 0, recall: 0 };
  let withRelevant = 0;
  let final = 0;
  for (const request of requests) {
    const scores = requestMetrics(request, k);
    sums.ndcg += scores.ndcg;
    sums.reciprocal_rank += scores.reciprocal_rank;
    sums.hit += scores.hit;
    sums.precision += scores.precision;
    if (scores.recall !== null) {
      sums.recall += scores.recall;
      withRelevant += 1;
    }
    if (request.final) final += 1;
  }
  const n = requests.length;
  const mean = (sum: number, over: number) => (over === 0 ? null : sum / over);
  return {
    k,
    n_requests: n,
    n_requests_with_relevant: withRelevant,
    n_final_requests: final,
    ndcg: mean(sums.ndcg, n),
    mrr: mean(sums.reciprocal_rank, n),
    hit_rate: mean(sums.hit, n),
    precision: mean(sums.precision, n),
    recall: mean(sums.recall, withRelevant),
  };
}

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ndcgAt, rankingMetrics, type RankedRequest } from '../../../stats/ranking-metrics';

interface Request {
  request_id: string;
  segment: string;
  score: number[];
  relevance: number[];
  position: number[];
}
type Summary = Record<string, number | null>;
interface Case {
  name: string;
  k: number;
  requests: Request[];
  expected: { overall: Summary; by_segment: Record<string, Summary> };
}
const fixture = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'ranking', 'ranking.json'), 'utf8')) as {
  cases: Case[];
};

const ranked = (request: Request): RankedRequest & { final: boolean } => ({
  score: Float64Array.from(request.score),
  relevance: Float64Array.from(request.relevance),
  position: Float64Array.from(request.position),
  final: true,
});

function expectSummary(got: ReturnType<typeof rankingMetrics>, expected: Summary, what: string) {
  expect([got.k, got.n_requests, got.n_requests_with_relevant], what).toEqual([
    expected.k,
    expected.n_requests,
    expected.n_requests_with_relevant,
  ]);
  for (const key of ['ndcg', 'mrr', 'hit_rate', 'precision', 'recall'] as const) {
    if (expected[key] === null) expect(got[key], `${what} ${key}`).toBeNull();
    else expect(Math.abs(got[key]! - expected[key]!), `${what} ${key}: ${got[key]} vs ${expected[key]}`).toBeLessThan(1e-9);
  }
}

describe('rankingMetrics equals scikit-learn ndcg_score and the NumPy reference', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: NDCG@k, MRR, hit rate, precision and recall, overall and per segment',
    (_name, c) => {
      expectSummary(rankingMetrics(c.requests.map(ranked), c.k), c.expected.overall, 'overall');
      for (const [segment, expected] of Object.entries(c.expected.by_segment))
        expectSummary(rankingMetrics(c.requests.filter((r) => r.segment === segment).map(ranked), c.k), expected, segment);
    },
  );

  it('averages the gains of rows tied in score, as ndcg_score does, and is 0 for a request with nothing relevant', () => {
    // Scores [1, 1, 0], relevance [1, 0, 0], k = 2: DCG = (1 + 0) / 2 * (1 + 1/log2 3); IDCG = 1.
    expect(ndcgAt(Float64Array.of(1, 1, 0), Float64Array.of(0, 1, 0), 2)).toBeCloseTo((1 + 1 / Math.log2(3)) / 2, 15);
    expect(ndcgAt(Float64Array.of(0.3, 0.2), Float64Array.of(0, 0), 2)).toBe(0);
    // Negative graded relevance (a refund) and nothing relevant: 0, not (-2 - 1/log2 3) / (-1 - 2/log2 3) > 1.
    expect(ndcgAt(Float64Array.of(0.3, 0.2), Float64Array.of(-2, -1), 2)).toBe(0);
    // A relevant row whose ideal DCG the negative one below it brings under 0: 0, not a negative ratio's sign flip.
    expect(ndcgAt(Float64Array.of(0.3, 0.2), Float64Array.of(-5, 1), 2)).toBe(0);
    // A negative row below the relevant one only lowers the DCG.
    expect(ndcgAt(Float64Array.of(0.3, 0.2), Float64Array.of(-1, 2), 2)).toBeCloseTo((-1 + 2 / Math.log2(3)) / (2 - 1 / Math.log2(3)), 15);
  });

  it('counts the requests whose every row is final, and is null without requests', () => {
    const [first] = fixture.cases[0]!.requests;
    expect(rankingMetrics([{ ...ranked(first!), final: false }, ranked(first!)], 3).n_final_requests).toBe(1);
    expect(rankingMetrics([], 10)).toMatchObject({ n_requests: 0, ndcg: null, mrr: null, recall: null });
  });
});

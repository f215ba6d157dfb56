/**
 * An independent reading of the label rules (docs/label-semantics.md), written as plain loops over arrays
 * from the text (not from the SQL), so the integration tests can hold the SQL join to it.
 * Deliberately naive: O(outcomes × predictions), fine for a few hundred rows.
 */

export interface RefPrediction {
  prediction_id: string;
  model_name: string;
  model_version: string;
  environment: string | null;
  ts_pred: string;
  score: number;
  request_id: string | null;
  item_id: string | null;
  entity_ids: Record<string, string>;
  region: string | null;
  segment: Record<string, string>;
}

export interface RefOutcome {
  outcome_id: string;
  prediction_id: string | null;
  request_id: string | null;
  item_id: string | null;
  entity_ids: Record<string, string>;
  outcome_type: string;
  value: number | null;
  ts_event: string;
  ts_received: string;
}

export interface RefDefinition {
  task: 'binary' | 'regression';
  windowMs: number;
  /** The leakage horizon: an event at most this long before its prediction is leakage; default windowMs. */
  horizonMs?: number;
  positive_outcome_types: string[];
  negative_outcome_types: string[];
  outcome_types: string[];
  absent_means: 'negative' | 'unknown';
  entity_key: string | null;
  slices: string[];
}

export interface RefCohort {
  model_name: string;
  model_version: string;
  environment: string | null;
  start: string;
  end: string;
}

export type RefPath = 'by_prediction_id' | 'by_request_item' | 'by_entity_window';
export type RefStatus = 'joined' | 'rejected_before_prediction' | 'outside_window';

export interface RefLabel {
  prediction: RefPrediction;
  y: 0 | 1 | null;
  target: number | null;
  is_final: boolean;
  status: 'final' | 'provisional' | 'unlabeled';
  outcome_id: string | null;
  path: RefPath | null;
  outcome_value: number | null;
}

export interface RefJoinCounts {
  by_prediction_id: number;
  by_request_item: number;
  by_entity_window: number;
  rejected_before_prediction: number;
  outside_window: number;
  unmatched: number;
}

export interface RefResult {
  labels: RefLabel[];
  join: RefJoinCounts;
}

const ms = (iso: string) => new Date(iso).getTime();

/** UUIDs compare as Postgres orders them: by bytes, i.e. by lowercase hex text. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function inCohort(p: RefPrediction, cohort: RefCohort): boolean {
  return (
    p.model_name === cohort.model_name &&
    p.model_version === cohort.model_version &&
    (cohort.environment === null || p.environment === cohort.environment) &&
    ms(p.ts_pred) >= ms(cohort.start) &&
    ms(p.ts_pred) < ms(cohort.end)
  );
}

function namedTypes(def: RefDefinition): string[] {
  return [...def.positive_outcome_types, ...def.negative_outcome_types, ...def.outcome_types];
}

function horizonOf(def: RefDefinition): number {
  return def.horizonMs ?? def.windowMs;
}

/** The predictions an outcome is attributed to by its join path (before the window and cohort tests). */
export function candidatesFor(
  o: RefOutcome,
  all: RefPrediction[],
  cohort: RefCohort,
  def: RefDefinition,
): { path: RefPath; predictions: RefPrediction[] } | null {
  if (o.prediction_id !== null) {
    return { path: 'by_prediction_id', predictions: all.filter((p) => p.prediction_id === o.prediction_id) };
  }
  if (o.request_id !== null && o.item_id !== null) {
    return { path: 'by_request_item', predictions: all.filter((p) => p.request_id === o.request_id && p.item_id === o.item_id) };
  }
  if (def.entity_key === null) return null;
  const entity = o.entity_ids[def.entity_key];
  if (entity === undefined) return null;
  const sameEntity = all.filter(
    (p) => p.model_name === cohort.model_name && p.model_version === cohort.model_version && p.entity_ids[def.entity_key!] === entity,
  );
  // The latest prediction at or before the event; ties go to the larger prediction_id.
  let latest: RefPrediction | null = null;
  for (const p of sameEntity) {
    if (ms(p.ts_pred) > ms(o.ts_event)) continue;
    if (
      latest === null ||
      ms(p.ts_pred) > ms(latest.ts_pred) ||
      (ms(p.ts_pred) === ms(latest.ts_pred) && compareIds(p.prediction_id, latest.prediction_id) > 0)
    ) {
      latest = p;
    }
  }
  if (latest !== null) return { path: 'by_entity_window', predictions: [latest] };
  // No prediction preceded the event: a naive join would attach it to the first one after,
  // which is the leakage counted as rejected_before_prediction, if the event lies
  // within the leakage horizon before it (older entity history is not a leak).
  let first: RefPrediction | null = null;
  for (const p of sameEntity) {
    if (
      first === null ||
      ms(p.ts_pred) < ms(first.ts_pred) ||
      (ms(p.ts_pred) === ms(first.ts_pred) && compareIds(p.prediction_id, first.prediction_id) < 0)
    ) {
      first = p;
    }
  }
  const leaks = first !== null && ms(o.ts_event) >= ms(first.ts_pred) - horizonOf(def);
  return { path: 'by_entity_window', predictions: leaks ? [first!] : [] };
}

/** Whether the outcome's key names any prediction at all (the unmatched-outcome ledger). */
function namesSomePrediction(o: RefOutcome, all: RefPrediction[], def: RefDefinition): boolean {
  if (o.prediction_id !== null) return all.some((p) => p.prediction_id === o.prediction_id);
  if (o.request_id !== null && o.item_id !== null) return all.some((p) => p.request_id === o.request_id && p.item_id === o.item_id);
  if (def.entity_key === null || o.entity_ids[def.entity_key] === undefined) return false;
  return all.some((p) => p.entity_ids[def.entity_key!] === o.entity_ids[def.entity_key!]);
}

/** Labels every cohort prediction as of `asOf` and counts the join, per docs/label-semantics.md. */
export function referenceJoin(
  all: RefPrediction[],
  outcomes: RefOutcome[],
  cohort: RefCohort,
  def: RefDefinition,
  asOf: string,
): RefResult {
  const types = namedTypes(def);
  const known = outcomes.filter((o) => types.includes(o.outcome_type) && ms(o.ts_received) <= ms(asOf));
  const joinedFor = new Map<string, Array<{ o: RefOutcome; path: RefPath }>>();
  const counted = {
    by_prediction_id: new Set<string>(),
    by_request_item: new Set<string>(),
    by_entity_window: new Set<string>(),
    rejected_before_prediction: new Set<string>(),
    outside_window: new Set<string>(),
  };
  let unmatched = 0;

  for (const o of known) {
    const event = ms(o.ts_event);
    if (!namesSomePrediction(o, all, def) && event >= ms(cohort.start) && event < ms(cohort.end) + def.windowMs) unmatched += 1;
    const candidates = candidatesFor(o, all, cohort, def);
    if (candidates === null) continue;
    for (const p of candidates.predictions) {
      if (!inCohort(p, cohort)) continue;
      const pred = ms(p.ts_pred);
      // Further back than the horizon it is history: no count at all (docs/label-semantics.md).
      if (event < pred - horizonOf(def)) continue;
      if (event < pred) counted.rejected_before_prediction.add(o.outcome_id);
      else if (event >= pred + def.windowMs) counted.outside_window.add(o.outcome_id);
      else {
        counted[candidates.path].add(o.outcome_id);
        const list = joinedFor.get(p.prediction_id) ?? [];
        list.push({ o, path: candidates.path });
        joinedFor.set(p.prediction_id, list);
      }
    }
  }

  const labels: RefLabel[] = [];
  for (const p of all.filter((candidate) => inCohort(candidate, cohort))) {
    const joined = joinedFor.get(p.prediction_id) ?? [];
    const windowElapsed = ms(p.ts_pred) + def.windowMs <= ms(asOf);
    const isPositive = (o: RefOutcome) => def.positive_outcome_types.includes(o.outcome_type);
    const later = (a: RefOutcome, b: RefOutcome) =>
      ms(a.ts_event) !== ms(b.ts_event)
        ? ms(a.ts_event) > ms(b.ts_event)
        : isPositive(a) !== isPositive(b)
          ? isPositive(a)
          : a.outcome_id > b.outcome_id;
    const latestOf = (list: Array<{ o: RefOutcome; path: RefPath }>) => {
      let best: { o: RefOutcome; path: RefPath } | null = null;
      for (const item of list) if (best === null || later(item.o, best.o)) best = item;
      return best;
    };

    let deciding: { o: RefOutcome; path: RefPath } | null;
    let y: 0 | 1 | null = null;
    let target: number | null = null;
    let isFinal: boolean;
    if (def.task === 'regression') {
      deciding = latestOf(joined.filter((item) => item.o.value !== null));
      target = deciding?.o.value ?? null;
      isFinal = deciding !== null && windowElapsed;
    } else if (def.absent_means === 'negative') {
      // Positive as soon as any positive is known; otherwise negative so far.
      const positives = joined.filter((item) => isPositive(item.o));
      deciding = positives.length > 0 ? latestOf(positives) : latestOf(joined);
      y = positives.length > 0 ? 1 : 0;
      isFinal = windowElapsed || y === 1;
    } else {
      deciding = latestOf(joined);
      y = deciding === null ? null : isPositive(deciding.o) ? 1 : 0;
      isFinal = deciding !== null && windowElapsed;
    }
    const labeled = def.task === 'regression' ? target !== null : y !== null;
    labels.push({
      prediction: p,
      y,
      target,
      is_final: isFinal,
      status: isFinal ? 'final' : labeled ? 'provisional' : 'unlabeled',
      outcome_id: deciding?.o.outcome_id ?? null,
      path: deciding?.path ?? null,
      outcome_value: deciding?.o.value ?? null,
    });
  }

  return {
    labels,
    join: {
      by_prediction_id: counted.by_prediction_id.size,
      by_request_item: counted.by_request_item.size,
      by_entity_window: counted.by_entity_window.size,
      rejected_before_prediction: counted.rejected_before_prediction.size,
      outside_window: counted.outside_window.size,
      unmatched,
    },
  };
}

/** The slice value of a prediction for a dimension (`region`, `environment`, `model_version`, `segment.<key>`). */
export function sliceValue(p: RefPrediction, dimension: string): string | null {
  if (dimension === 'region') return p.region;
  if (dimension === 'environment') return p.environment;
  if (dimension === 'model_version') return p.model_version;
  return p.segment[dimension.slice('segment.'.length)] ?? null;
}

export interface RefMetrics {
  n: number;
  n_labeled: number;
  n_positive: number;
  label_availability: number | null;
  roc_auc: number | null;
}

/** Counts and a pairwise O(n²) ROC AUC (ties count ½), straight from the definition. */
export function referenceMetrics(labels: RefLabel[]): RefMetrics {
  const labeled = labels.filter((label) => label.y !== null);
  const positives = labeled.filter((label) => label.y === 1);
  const negatives = labeled.filter((label) => label.y === 0);
  let wins = 0;
  for (const pos of positives) {
    for (const neg of negatives) {
      if (pos.prediction.score > neg.prediction.score) wins += 1;
      else if (pos.prediction.score === neg.prediction.score) wins += 0.5;
    }
  }
  const pairs = positives.length * negatives.length;
  return {
    n: labels.length,
    n_labeled: labeled.length,
    n_positive: positives.length,
    label_availability: labels.length === 0 ? null : labels.filter((label) => label.is_final).length / labels.length,
    roc_auc: pairs === 0 ? null : wins / pairs,
  };
}

import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { replayWorkerOptions } from '../../workers/worker';

Runtime.install({ logger: new DefaultLogger('WARN') });

const DIR = path.join(__dirname, '..', 'fixtures', 'histories');

/**
 * Histories recorded from real runs (re-record with HINDSIGHT_RECORD_HISTORY=1 on the
 * integration tests that write them). Each stands for workflows that may be running when new
 * code is deployed; if a change breaks their replay, this fails: guard it with patched().
 */
const RECORDED: Record<string, string> = {
  'cohort-lifecycle-before-operator-view': 'a cohort started before search attributes and summaries: provisional → final → revised',
  'cohort-lifecycle-before-monitoring':
    'a cohort with search attributes and summaries, started before monitoring policies: provisional → final → revised',
  'cohort-lifecycle-live': 'a live cohort: provisional → final → revised, judging its (absent) policy after each snapshot',
  'cohort-lifecycle-alerts':
    'a cohort whose provisional alert fired, was notified, asked for retraining and was retracted by the final snapshot',
  'retraining-requests':
    "a model's retraining requests: two cohorts' evidence merged into one webhook call, then completed with a new version's schedule",
  'cohort-lifecycle-evaluate-now': 'a cohort that answered two evaluateNow updates between its planned checkpoints',
  'cohort-lifecycle-backfilled': 'a backfilled cohort whose checkpoints had all passed when it opened',
  'scheduled-cohort': "a schedule action that opened its period's cohort",
  'recalibration-promoted': 'a recalibration that fitted a calibrator with a lower held-out Brier score and promoted it',
  'recalibration-not-improved': 'a recalibration whose calibrator did not lower the held-out Brier score, so it was not promoted',
  'recalibration-approved': 'a recalibration that waited for an operator and was approved by signal',
  'recalibration-decided': 'a recalibration decided by the decideCalibrator update while a second decision was refused',
  'recalibration-late-labels':
    "a recalibration whose fit read the labels known at the run's as-of (labels received after the window), then promoted",
  'cohort-lifecycle-delivery':
    "a cohort whose alert notifications were queued for their destination's delivery workflow (the receiver refused them)",
  'retraining-requests-hook-failed': 'a retraining request whose webhook answered 410: parked hook_failed, the workflow still running',
  'alert-delivery-refused': "a destination's delivery workflow: two notifications refused with 404, then idle",
};

describe('workflow replay against recorded histories', () => {
  it('has a description for every recorded history and a recording for every description', () => {
    const files = readdirSync(DIR)
      .filter((f) => f.endsWith('.history.bin'))
      .map((f) => f.replace('.history.bin', ''));
    expect(files.sort()).toEqual(Object.keys(RECORDED).sort());
  });

  for (const [name, what] of Object.entries(RECORDED)) {
    it(`replays ${what} deterministically`, async () => {
      const history = temporal.api.history.v1.History.decode(await readFile(path.join(DIR, `${name}.history.bin`)));
      expect(history.events?.length).toBeGreaterThan(5);
      await expect(Worker.runReplayHistory(replayWorkerOptions(), history, `recorded-${name}`)).resolves.toBeUndefined();
    });
  }
});

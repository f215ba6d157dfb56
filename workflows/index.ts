// The workflow bundle's entry point: every workflow the worker registers, named exports only.
export { cohortLifecycle, evaluateNowUpdate, getStatusQuery, recheckLateLabelsSignal } from './cohort-lifecycle';
export { scheduledCohort } from './scheduled-cohort';
export { feedWatch } from './feed-watch';
export { retrainingRequests } from './retraining-requests';
export { approveCalibratorSignal, getRecalibrationStateQuery, recalibration, rejectCalibratorSignal } from './recalibration';

export { evaluateNowUpdate, getStatusQuery, recheckLateLabelsSignal } from '../contracts/lifecycle';
export { approveCalibratorSignal, getRecalibrationStateQuery, rejectCalibratorSignal } from '../contracts/recalibration';
// The workflow bundle's entry point: every workflow the worker registers, named exports only.
export { cohortLifecycle } from './cohort-lifecycle';
export { scheduledCohort } from './scheduled-cohort';
export { feedWatch } from './feed-watch';
export { retrainingRequests } from './retraining-requests';
export { recalibration } from './recalibration';
export { alertDelivery } from './alert-delivery';

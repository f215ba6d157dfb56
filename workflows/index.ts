// The workflow bundle's entry point: every workflow the worker registers, named exports only.
export { cohortLifecycle, getStatusQuery, recheckLateLabelsSignal } from './cohort-lifecycle';

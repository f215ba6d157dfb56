/**
 * Every activity the worker registers, composed from the Temporal adapters in temporal/
 * (docs/architecture.md). Workflows import {@link HindsightActivities} as a type only.
 */
import type { Knex } from 'knex';
import type { MonitoringDependencies } from './monitoring/judging-context';
import { createControlActivities } from './temporal/control';
import { createDeliveryActivities } from './temporal/delivery';
import { createLifecycleActivities } from './temporal/lifecycle';
import { createMonitoringActivities } from './temporal/monitoring';

/** Activities with the database and the label-free estimators injected by the worker (composition root). */
export function createActivities(db: Knex, monitoring: MonitoringDependencies) {
  return {
    ...createMonitoringActivities(db, monitoring),
    ...createControlActivities(db),
    ...createDeliveryActivities(db),
    ...createLifecycleActivities(db),
  };
}

export type HindsightActivities = ReturnType<typeof createActivities>;

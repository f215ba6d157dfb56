import { diagnoseCohort } from '../diagnose/diagnose';
import { estimatePerformance } from '../estimate/cbpe';
import type { MonitoringDependencies } from './judging-context';

/** The estimators a worker's monitoring activities use. */
export const defaultMonitoringDependencies: MonitoringDependencies = { estimatePerformance, diagnose: diagnoseCohort };

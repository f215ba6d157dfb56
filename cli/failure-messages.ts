import type { NamespaceNotFoundError, WorkflowNotFoundError } from '@temporalio/common';
import { describeFailure } from '../sql/failure-message';

/**
 * The one place a failure becomes what the command line prints: Temporal, knex and pg errors
 * turn into a sentence that says what happened and what to do (the address that could not be
 * reached, the workflow that is closed or unknown), never SQL, a SQLSTATE or a stack trace.
 */

/** The servers the command talked to (host:port, never credentials), so a failure can name them. */
export interface Endpoints {
  temporal?: string;
  database?: string;
}

/** A Temporal address that refuses connections or does not resolve, found before the gRPC client waits out its deadline. */
export class TemporalUnreachableError extends Error {
  override readonly name = 'TemporalUnreachableError';
  constructor(
    readonly address: string,
    reason: string,
  ) {
    super(`could not reach the Temporal server at ${address} (${reason})`);
  }
}

/** gRPC status codes (grpc-js `status`) that the messages below tell apart. */
const GRPC = { DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, PERMISSION_DENIED: 7, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

interface GrpcLike {
  code?: unknown;
  details?: unknown;
  metadata?: unknown;
}

/** The error and its causes, outermost first (bounded: a cause chain can be circular). */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (
    let current = error;
    current !== undefined && current !== null && chain.length < 8;
    current = (current as { cause?: unknown }).cause
  ) {
    if (chain.includes(current)) break;
    chain.push(current);
  }
  return chain;
}

/** The first gRPC status in the chain (grpc-js errors carry `code`, `details` and `metadata`). */
function grpcStatus(error: unknown): { code: number; details: string } | undefined {
  for (const link of causes(error)) {
    const { code, details, metadata } = (link ?? {}) as GrpcLike;
    if (typeof code === 'number' && typeof details === 'string' && metadata !== undefined) return { code, details };
  }
  return undefined;
}

function unreachable(address: string | undefined): string {
  return (
    `could not reach the Temporal server${address ? ` at ${address}` : ''}: is it running? ` +
    '(`hindsight dev` starts one; TEMPORAL_ADDRESS names another)'
  );
}

/** The Web UI and the commands call a cohort's workflow by its cohort id. */
function describeWorkflow(workflowId: string): string {
  return workflowId.startsWith('cohort/') ? `cohort workflow ${workflowId}` : `workflow ${workflowId}`;
}

/**
 * Errors of Hindsight's own that wrap a Temporal failure as their cause because their message
 * already says what to do (a start refused for missing search attributes, a refused decision).
 */
const OWN_WRAPPERS = new Set(['TemporalSetupError', 'ControlRequestError']);

/**
 * The SDK's error classes mark their prototype's name (its own instanceof checks by that
 * name too); checking the name spares every command loading @temporalio/common to print
 * an error it may never meet.
 */
function isTemporalError<T extends Error>(error: unknown, name: string): error is T {
  return error instanceof Error && error.name === name;
}

function describeTemporal(error: unknown, endpoints: Endpoints): string | undefined {
  const address = endpoints.temporal;
  if (error instanceof Error && OWN_WRAPPERS.has(error.name)) return error.message;
  if (error instanceof TemporalUnreachableError) return unreachable(error.address);
  if (isTemporalError<WorkflowNotFoundError>(error, 'WorkflowNotFoundError')) {
    const id = error.workflowId;
    if (/already (completed|finished|closed)|not running/i.test(error.message)) {
      const status = id.startsWith('cohort/') ? `; \`hindsight cohort status ${id}\` shows how it ended` : '';
      return `${describeWorkflow(id)} has finished and takes no more signals or updates${status}`;
    }
    return id.startsWith('cohort/')
      ? `no cohort workflow ${id}: check the id (\`hindsight cohort list --model M\` lists cohorts)`
      : `no workflow ${id || '(no id)'}${address ? ` on the Temporal server at ${address}` : ''}: check the id`;
  }
  if (isTemporalError<NamespaceNotFoundError>(error, 'NamespaceNotFoundError')) {
    return (
      `the Temporal server${address ? ` at ${address}` : ''} has no namespace ${error.namespace}: ` +
      `create it (temporal operator namespace create ${error.namespace}) or set TEMPORAL_NAMESPACE`
    );
  }
  const messages = causes(error).map((link) => (link instanceof Error ? link.message : ''));
  if (messages.some((message) => message === 'Failed to connect before the deadline')) return unreachable(address);
  if (error instanceof Error && error.name === 'TransportError') return unreachable(address);
  const status = grpcStatus(error);
  if (!status) return undefined;
  if (status.code === GRPC.UNAVAILABLE) return unreachable(address);
  if (status.code === GRPC.DEADLINE_EXCEEDED)
    return `the Temporal server${address ? ` at ${address}` : ''} did not answer in time: run this again, or check that it is healthy`;
  if (status.code === GRPC.UNAUTHENTICATED || status.code === GRPC.PERMISSION_DENIED)
    return `the Temporal server${address ? ` at ${address}` : ''} refused this client: ${status.details}`;
  if (messages[0] === 'Failed to connect to Temporal server')
    return `the server at ${address ?? 'TEMPORAL_ADDRESS'} did not answer as a Temporal server: is TEMPORAL_ADDRESS right? (${status.details})`;
  // The SDK's own words are "Failed to start Workflow", "Failed to query Workflow", …: say what could not be done and why.
  const outer = messages[0] ?? '';
  const what = /^Failed to /.test(outer) ? `could not ${outer.slice('Failed to '.length).toLowerCase()}` : 'Temporal refused the request';
  return `${what}: ${status.details || 'the Temporal server gave no reason'}`;
}

/**
 * What the command line prints (after `hindsight: `) for a failure. Pure: the endpoints are
 * passed in, so a test can feed it the errors the libraries throw.
 */
export function describeForUser(error: unknown, endpoints: Endpoints = {}): string {
  return describeTemporal(error, endpoints) ?? describeFailure(error, { database: endpoints.database });
}

/** A broken pipe on stdout or stderr: the reader (`| head`) has gone, which is no failure of ours. */
export function isBrokenPipe(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'EPIPE';
}

import { createServer } from 'node:net';
import { Connection, isGrpcServiceError, ServiceError } from '@temporalio/client';
import { NamespaceNotFoundError, WorkflowNotFoundError } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { describeForUser, TemporalUnreachableError } from '../../../cli/failure-messages';
import { databaseAddress, probeAddress } from '../../../cli/context';
import { explainSearchAttributeError } from '../../../control/search-attributes';
import { describeFailure, stripSqlText } from '../../../sql/failure-message';
import { sqlFreeActivityFailures, stripSqlFromError } from '../../../workers/activity-failures';
import { createDatabase } from '../../../workers/database';

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The error a failed query throws, made as the libraries make it (see the real one in test/integration/ingest.test.ts). */
function failedQuery(sql: string, message: string, code: string): Error {
  // pg's DatabaseError carries the SQLSTATE in `code`; knex then puts the statement in front of the message.
  return Object.assign(new Error(`${sql} - ${message}`), { name: 'error', code, severity: 'ERROR' });
}

/** A gRPC status error as grpc-js's callErrorFromStatus builds it. */
function grpcError(code: number, name: string, details: string): Error {
  return Object.assign(new Error(`${code} ${name}: ${details}`), { code, details, metadata: {} });
}

const UNREACHABLE =
  /^could not reach the Temporal server at 127\.0\.0\.1:\d+: is it running\? \(`hindsight dev` starts one; TEMPORAL_ADDRESS names another\)$/;

describe('describeForUser: Temporal', () => {
  it('names the address of a Temporal server that is not there, from the client that waited out its deadline', async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    const error = await Connection.connect({ address, connectTimeout: 300 }).catch((caught: unknown) => caught);
    expect((error as Error).message).toBe('Failed to connect before the deadline');
    expect(describeForUser(error, { temporal: address })).toMatch(UNREACHABLE);
    expect(describeForUser(error, { temporal: address })).toContain(address);
  });

  it('finds a closed port at once, before the client waits, and names it; a worker connection says the same', async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    const started = Date.now();
    const probed = await probeAddress(address).catch((caught: unknown) => caught);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(probed).toBeInstanceOf(TemporalUnreachableError);
    expect(describeForUser(probed)).toMatch(UNREACHABLE);
    const native = await NativeConnection.connect({ address }).catch((caught: unknown) => caught);
    expect((native as Error).name).toBe('TransportError');
    expect(describeForUser(native, { temporal: address })).toMatch(UNREACHABLE);
  });

  it('says which cohort workflow is unknown or finished instead of "workflow not found for ID"', () => {
    // How the client throws them (WorkflowClient.rethrowGrpcError), with the server's words.
    const unknown = new WorkflowNotFoundError('workflow not found for ID: cohort/m/1/*/a/b/d@1', 'cohort/m/1/*/a/b/d@1', undefined);
    expect(describeForUser(unknown)).toBe(
      'no cohort workflow cohort/m/1/*/a/b/d@1: check the id (`hindsight cohort list --model M` lists cohorts)',
    );
    const closed = new WorkflowNotFoundError('workflow execution already completed', 'cohort/m/1/*/a/b/d@1', undefined);
    expect(describeForUser(closed)).toBe(
      'cohort workflow cohort/m/1/*/a/b/d@1 has finished and takes no more signals or updates; ' +
        '`hindsight cohort status cohort/m/1/*/a/b/d@1` shows how it ended',
    );
    const other = new WorkflowNotFoundError('workflow not found for ID: recalibration/m/1/x', 'recalibration/m/1/x', undefined);
    expect(describeForUser(other, { temporal: '127.0.0.1:7233' })).toBe(
      'no workflow recalibration/m/1/x on the Temporal server at 127.0.0.1:7233: check the id',
    );
  });

  it('turns "Failed to start Workflow" into what could not be done and the server\'s reason', () => {
    const refused = grpcError(3, 'INVALID_ARGUMENT', 'Namespace default has no mapping defined for search attribute NoSuchAttr');
    expect(isGrpcServiceError(refused)).toBe(true);
    const error = new ServiceError('Failed to start Workflow', { cause: refused });
    expect(describeForUser(error)).toBe(
      'could not start workflow: Namespace default has no mapping defined for search attribute NoSuchAttr',
    );
    const gone = new ServiceError('Failed to start Workflow', { cause: grpcError(14, 'UNAVAILABLE', 'No connection established') });
    expect(describeForUser(gone, { temporal: '127.0.0.1:7233' })).toMatch(/^could not reach the Temporal server at 127\.0\.0\.1:7233: /);
    // Hindsight's own explanation of such a refusal (its fix) is kept, not replaced by the server's words.
    const explained = explainSearchAttributeError(error) as Error;
    expect(describeForUser(explained)).toMatch(
      /^the Temporal server does not know Hindsight's search attributes \(.*\); register them once with: npx hindsight setup-temporal$/,
    );
    expect(describeForUser(new NamespaceNotFoundError('prod'), { temporal: 'temporal:7233' })).toBe(
      'the Temporal server at temporal:7233 has no namespace prod: create it (temporal operator namespace create prod) or set TEMPORAL_NAMESPACE',
    );
  });
});

describe('describeForUser: PostgreSQL', () => {
  it('names the host and port of a database that refuses connections, never the password', async () => {
    const port = await closedPort();
    const url = `postgres://hindsight:s3cret-password@127.0.0.1:${port}/hindsight`;
    const db = createDatabase(url);
    const error = await db.raw('select 1').catch((caught: unknown) => caught);
    await db.destroy();
    expect((error as Error).message).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
    const message = describeForUser(error, { database: databaseAddress(url) });
    expect(message).toBe(
      `could not connect to PostgreSQL at 127.0.0.1:${port}: the connection was refused; is the server running, and is DATABASE_URL right?`,
    );
    expect(databaseAddress(url)).toBe(`127.0.0.1:${port}`);
  });

  it('says what to do about a database that does not exist, without a SQLSTATE', async () => {
    const url = 'postgres://postgres@127.0.0.1:5432/hindsight_no_such_database_here';
    const db = createDatabase(url);
    const error = await db.raw('select 1').catch((caught: unknown) => caught);
    await db.destroy();
    expect((error as { code: string }).code).toBe('3D000');
    expect(describeForUser(error, { database: '127.0.0.1:5432' })).toBe(
      'database "hindsight_no_such_database_here" does not exist on PostgreSQL at 127.0.0.1:5432: ' +
        'create it (createdb NAME) or fix the database name in DATABASE_URL',
    );
  });

  it('keeps the SQL text and the SQLSTATE out of a database refusal, and says to migrate when a table is missing', () => {
    const sql = "update alerts set state = 'x' where id = $1 - 1";
    expect(describeForUser(failedQuery(sql, 'relation "alerts" does not exist', '42P01'))).toBe(
      'the database lacks part of Hindsight\'s schema (relation "alerts" does not exist): run `hindsight migrate`',
    );
    const conflict = describeForUser(failedQuery(`with x as (select 1) ${sql}`, 'could not serialize access', '40001'));
    expect(conflict).toBe(
      'the database gave up this transaction because another one conflicted with it (could not serialize access): run this again',
    );
    expect(stripSqlText(`  (select a - b from t) - value too long for type character varying(3)`)).toBe(
      'value too long for type character varying(3)',
    );
    expect(describeFailure(new Error('plain words'))).toBe('plain words');
    // Only a query's error carries knex's SQL: our own words that start like a statement stay whole.
    expect(describeFailure(new Error('with --every PT1S - the period is too short'))).toBe('with --every PT1S - the period is too short');
    const ours = new Error('set a --limit - at most 1000');
    stripSqlFromError(ours);
    expect(ours.message).toBe('set a --limit - at most 1000');
  });

  it('says a pool that found no connection in time is waiting on the server, not that a transacting() is missing', () => {
    const timeout = Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), {
      name: 'KnexTimeoutError',
    });
    expect(describeForUser(timeout, { database: 'db:5432' })).toMatch(/^no connection to PostgreSQL at db:5432 came free in time/);
  });
});

describe('worker-side failures', () => {
  it('lose the SQL text in their message, their stack and their causes', () => {
    const cause = failedQuery('insert into policies (body) values ($1)', 'value too long', '22001');
    const outer = new Error('fitting failed', { cause });
    stripSqlFromError(outer);
    expect(cause.message).toBe('value too long');
    expect(cause.stack).not.toMatch(/insert into/);
    expect(outer.message).toBe('fitting failed');
  });

  it("leave an activity through the worker's interceptor without their SQL", async () => {
    const execute = sqlFreeActivityFailures().inbound!.execute!;
    const failed = failedQuery("select * from hs_matches where secret = 'x'", 'canceling statement due to statement timeout', '57014');
    const thrown = await execute({ args: [], headers: {} }, async () => {
      throw failed;
    }).catch((caught: unknown) => caught);
    expect(thrown).toBe(failed);
    expect((thrown as Error).message).toBe('canceling statement due to statement timeout');
  });
});

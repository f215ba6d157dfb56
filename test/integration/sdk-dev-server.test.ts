import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { COHORT_SEARCH_ATTRIBUTES } from '../../contracts/search-attributes';
import { devServerSource, startSdkDevServer } from '../../workers/sdk-dev-server';
import { ensureTemporalCli } from '../../workers/temporal-dev-server';

describe('a first run without Go', () => {
  it('takes a Temporal CLI it finds, else builds one with Go, else the SDK download', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'hindsight-source-'));
    const emptyPath = await mkdtemp(path.join(os.tmpdir(), 'hindsight-path-'));
    expect(devServerSource({ PATH: emptyPath }, root, false)).toEqual({ kind: 'sdk-download' });
    expect(devServerSource({ PATH: emptyPath }, root, true)).toEqual({ kind: 'build-with-go' });
    // A CLI in the project's cache, on PATH or named by TEMPORAL_CLI_PATH wins over both.
    await mkdir(path.join(root, '.cache', 'bin'), { recursive: true });
    await writeFile(path.join(root, '.cache', 'bin', 'temporal'), '');
    expect(devServerSource({ PATH: emptyPath }, root, false)).toEqual({ kind: 'cli', path: path.join(root, '.cache', 'bin', 'temporal') });
  });

  it('offline, says every way out in one message', async () => {
    const downloadDir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-sdk-download-'));
    // A proxy nobody answers on: the download fails here as it would on a machine offline.
    const saved = { HTTPS_PROXY: process.env.HTTPS_PROXY, https_proxy: process.env.https_proxy };
    process.env.HTTPS_PROXY = process.env.https_proxy = 'http://127.0.0.1:9';
    try {
      const failure = await startSdkDevServer({ uiPort: false, executable: { type: 'cached-download', downloadDir } }).catch(
        (e: Error) => e,
      );
      expect(failure).toBeInstanceOf(Error);
      const message = (failure as Error).message;
      expect(message).toMatch(
        /^cannot start a Temporal dev server: no Temporal CLI was found, Go is not installed .* could not download one \(/,
      );
      for (const way of ['install Go', 'TEMPORAL_CLI_PATH', 'TEMPORAL_ADDRESS=host:port', 'docker compose up'])
        expect(message).toContain(way);
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it("runs the SDK's dev server as it runs the CLI's: loopback, the given port, the cohort search attributes", async () => {
    // The SDK's own launcher, given the binary instead of its download (nothing is downloaded here).
    const server = await startSdkDevServer({ uiPort: false, executable: { type: 'existing-path', path: ensureTemporalCli() } });
    try {
      expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
      const connection = await Connection.connect({ address: server.address });
      try {
        const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
        for (const key of COHORT_SEARCH_ATTRIBUTES) expect(Object.keys(customAttributes ?? {})).toContain(key.name);
      } finally {
        await connection.close();
      }
    } finally {
      await server.stop();
    }
  });
});

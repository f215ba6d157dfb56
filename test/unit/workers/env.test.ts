import { describe, expect, it } from 'vitest';
import { ConfigError, loadEnv } from '../../../workers/env';

describe('loadEnv', () => {
  it('applies defaults when nothing is set', () => {
    const env = loadEnv({});
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.HINDSIGHT_TASK_QUEUE).toBe('hindsight');
    expect(env.TEMPORAL_NAMESPACE).toBe('default');
  });

  it('treats empty strings as unset', () => {
    expect(loadEnv({ DATABASE_URL: '' }).DATABASE_URL).toBeUndefined();
  });

  it('fails fast naming every bad variable', () => {
    expect(() => loadEnv({ DATABASE_URL: 'mysql://x', TEMPORAL_ADDRESS: 'nohostport' })).toThrowError(ConfigError);
    try {
      loadEnv({ DATABASE_URL: 'mysql://x', TEMPORAL_ADDRESS: 'nohostport' });
    } catch (error) {
      expect((error as Error).message).toContain('DATABASE_URL: must be a postgres:// or postgresql:// URL');
      expect((error as Error).message).toContain('TEMPORAL_ADDRESS: must be host:port');
    }
  });
});

describe('HINDSIGHT_ALLOWED_ORIGINS', () => {
  it('allows no browser origin by default and reads a comma-separated list', () => {
    expect(loadEnv({}).HINDSIGHT_ALLOWED_ORIGINS).toEqual([]);
    expect(loadEnv({ HINDSIGHT_ALLOWED_ORIGINS: 'https://ops.example.com, http://localhost:3000' }).HINDSIGHT_ALLOWED_ORIGINS).toEqual([
      'https://ops.example.com',
      'http://localhost:3000',
    ]);
  });

  it('fails fast on an origin with a path', () => {
    expect(() => loadEnv({ HINDSIGHT_ALLOWED_ORIGINS: 'https://ops.example.com/app' })).toThrowError(
      /HINDSIGHT_ALLOWED_ORIGINS.*scheme:\/\/host/,
    );
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError, loadEnv } from '../../workers/env';

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

import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redactPolicyWebhooks, resolveWebhook, webhookReceiver } from '../../../activities/delivery/webhook-config';
import { postWebhook } from '../../../activities/delivery/webhook';
import { policyFields, policySchema } from '../../../activities/monitoring/policy';

const base = {
  name: 'fraud-monitoring',
  version: 1,
  model_name: 'fraud',
  label_definition: 'chargeback',
  rules: [{ name: 'recall-floor', kind: 'floor', metric: 'recall', min: 0.5 }],
};
const withWebhook = (webhook: Record<string, unknown>) => ({ ...base, notifications: { webhook } });
const withHook = (webhook: Record<string, unknown>) => ({ ...base, retraining: { rules: ['recall-floor'], hook: { webhook } } });

/** What `policy put` says of a policy, one `field: message` per issue (nothing when it is accepted). */
function refusals(input: unknown): string[] {
  const parsed = policySchema.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('policy put refuses a literal credential in a webhook, naming the field and the fix', () => {
  it.each(['authorization', 'Proxy-Authorization', 'cookie', 'x-api-key', 'X-Auth-Token', 'x-client-secret', 'x-password', 'apikey'])(
    'a %s header given literally',
    (name) => {
      const issues = refusals(withWebhook({ url: 'https://alerts.example.com/hook', headers: { [name]: 'abc' } }));
      expect(issues).toEqual([
        `notifications.webhook.headers.${name}: a credential is never stored in a policy; ` +
          `name the environment variable of the worker that holds it: "headers_from_env": {"${name}": "SOME_VARIABLE"}`,
      ]);
    },
  );

  it("the retraining hook's webhook too, and a harmless header's value that is a bearer token", () => {
    expect(refusals(withHook({ url: 'https://ml.example.com/retrain', headers: { 'x-team': 'Bearer abc' } }))).toEqual([
      expect.stringMatching(/^retraining\.hook\.webhook\.headers\.x-team: a credential is never stored in a policy; .*headers_from_env/),
    ]);
  });

  it('a URL with user info or a query string: use url_from_env', () => {
    expect(refusals(withWebhook({ url: 'https://bot:hunter2@alerts.example.com/hook' }))).toEqual([
      expect.stringMatching(/^notifications\.webhook\.url: user info in a URL is a credential .* name it with url_from_env$/),
    ]);
    expect(refusals(withHook({ url: 'https://ml.example.com/retrain?token=abc' }))).toEqual([
      expect.stringMatching(/^retraining\.hook\.webhook\.url: a query string often holds a token .* name it with url_from_env$/),
    ]);
  });

  it('a URL given twice or not at all, a variable that is no name, a header name that is no token, a line break, a header given twice', () => {
    expect(refusals(withWebhook({ url: 'https://a.example.com/', url_from_env: 'HOOK_URL' }))).toEqual([
      expect.stringMatching(/^url_from_env|notifications\.webhook\.url_from_env: give the URL once: either url or url_from_env/),
    ]);
    expect(refusals(withWebhook({ headers: { 'x-team': 'risk' } }))).toEqual([
      expect.stringMatching(/^notifications\.webhook\.url: give the URL once/),
    ]);
    expect(refusals(withWebhook({ url_from_env: 'HOOK URL' }))).toEqual([
      expect.stringMatching(/^notifications\.webhook\.url_from_env: an environment variable name/),
    ]);
    expect(refusals(withWebhook({ url: 'https://a.example.com/', headers_from_env: { authorization: '1TOKEN' } }))).toEqual([
      expect.stringMatching(/^notifications\.webhook\.headers_from_env\.authorization: an environment variable name/),
    ]);
    expect(refusals(withWebhook({ url: 'https://a.example.com/', headers: { 'x team': 'risk', 'x-note': 'a\r\nx-evil: 1' } }))).toEqual([
      expect.stringMatching(/^notifications\.webhook\.headers\.x team: not an HTTP header name/),
      'notifications.webhook.headers.x-note: a header value holds no control characters (line breaks, NUL)',
    ]);
    expect(
      refusals(withWebhook({ url: 'https://a.example.com/', headers: { 'X-Team': 'risk' }, headers_from_env: { 'x-team': 'TEAM' } })),
    ).toEqual(['notifications.webhook.headers_from_env.x-team: this header is given twice; give it once']);
  });

  it('harmless headers stay literal; credentials and secret URLs are named by environment variable', () => {
    const accepted = {
      ...withWebhook({
        url_from_env: 'SLACK_HOOK_URL',
        headers: { 'content-type': 'application/json', 'x-team': 'risk' },
        headers_from_env: { authorization: 'SLACK_TOKEN' },
      }),
      retraining: {
        rules: ['recall-floor'],
        hook: { webhook: { url: 'https://ml.example.com/retrain', headers_from_env: { 'x-api-key': 'ML_KEY' } } },
      },
    };
    expect(refusals(accepted)).toEqual([]);
  });

  it('a policy stored with a literal credential before they were refused is still read (and sent)', () => {
    const legacy = withWebhook({ url: 'https://alerts.example.com/hook?token=q', headers: { authorization: 'Bearer legacy' } });
    expect(refusals(legacy)).not.toEqual([]);
    expect(policyFields.parse(legacy).notifications.webhook?.headers).toEqual({ authorization: 'Bearer legacy' });
  });
});

describe('a stored webhook is shown redacted', () => {
  it('credential headers as ***, user info and query string as ***; harmless headers and variable names as they are', () => {
    const policy = policyFields.parse({
      ...withWebhook({
        url: 'https://bot:hunter2@alerts.example.com/hook?token=q',
        headers: { authorization: 'Bearer legacy', 'x-team': 'risk' },
        headers_from_env: { 'x-api-key': 'ALERT_KEY' },
      }),
      retraining: { rules: ['recall-floor'], hook: { webhook: { url: 'https://ml.example.com/retrain', headers: { Cookie: 's=1' } } } },
    });
    const shown = redactPolicyWebhooks(policy);
    expect(shown.notifications.webhook).toEqual({
      url: 'https://***@alerts.example.com/hook?***',
      headers: { authorization: '***', 'x-team': 'risk' },
      headers_from_env: { 'x-api-key': 'ALERT_KEY' },
    });
    expect(shown.retraining?.hook).toEqual({ webhook: { url: 'https://ml.example.com/retrain', headers: { Cookie: '***' } } });
    expect(JSON.stringify(shown)).not.toMatch(/hunter2|legacy|token=q|s=1/);
    // The policy read for sending keeps them.
    expect(policy.notifications.webhook?.headers.authorization).toBe('Bearer legacy');
  });
});

describe('the worker reads the variables when it sends', () => {
  const env = { HOOK_URL: 'https://hooks.example.com/services/T0/B0/s3cr3t-path?x=1', TOKEN: 'Bearer t0ken-value' };

  it('resolves the URL and headers from the environment, naming the receiver by variable and host only', () => {
    const resolved = resolveWebhook(
      { url_from_env: 'HOOK_URL', headers: { 'x-team': 'risk' }, headers_from_env: { authorization: 'TOKEN' } },
      env,
    );
    expect(resolved).toMatchObject({
      ok: true,
      url: env.HOOK_URL,
      headers: { 'x-team': 'risk', authorization: 'Bearer t0ken-value' },
      receiver: '$HOOK_URL (https://hooks.example.com)',
    });
    expect(webhookReceiver({ url_from_env: 'HOOK_URL' })).toBe('$HOOK_URL');
    expect(webhookReceiver({ url: 'https://alerts.example.com/hook?token=q' })).toBe('https://alerts.example.com/hook');
  });

  it('a missing variable is a failure naming the variable, never a value', () => {
    expect(resolveWebhook({ url_from_env: 'HOOK_URL', headers_from_env: { authorization: 'MISSING_TOKEN' } }, env)).toEqual({
      ok: false,
      receiver: '$HOOK_URL',
      reason: "$HOOK_URL: the worker's environment has no MISSING_TOKEN (headers_from_env.authorization); set it and restart the worker",
    });
    expect(resolveWebhook({ url_from_env: 'NO_URL' }, env)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('has no NO_URL (url_from_env)'),
    });
    const broken = resolveWebhook({ url_from_env: 'TOKEN' }, env);
    expect(broken).toEqual({ ok: false, receiver: '$TOKEN', reason: '$TOKEN: the value of TOKEN is not an http(s) URL' });
  });
});

describe('postWebhook sends the secret and names it nowhere', () => {
  let server: ReturnType<typeof createServer>;
  let origin = '';
  const received: IncomingHttpHeaders[] = [];
  beforeAll(async () => {
    server = createServer((request, response) => {
      received.push(request.headers);
      request.resume();
      const status = request.url?.includes('fail') ? 500 : request.url?.includes('move') ? 307 : 200;
      const location = `${origin}/elsewhere/${request.url?.split('/').pop()}?key=${String(request.headers.authorization)}`;
      response.writeHead(status, status === 307 ? { location } : {}).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server.close());

  it('the receiver gets the header; a failure and a redirect name the receiver without the path, query or header', async () => {
    const env = {
      OK_URL: `${origin}/ok/p4th-s3cret`,
      FAIL_URL: `${origin}/fail/p4th-s3cret`,
      MOVE_URL: `${origin}/move/p4th-s3cret`,
      TOKEN: 'Bearer t0ken-value',
    };
    const send = async (variable: string) => {
      const resolved = resolveWebhook({ url_from_env: variable, headers_from_env: { authorization: 'TOKEN' } }, env);
      if (!resolved.ok) throw new Error(resolved.reason);
      return postWebhook({ ...resolved, idempotencyKey: 'k', body: {} });
    };
    expect(await send('OK_URL')).toEqual({ result: 'delivered', status: 200, reason: null });
    expect(received[0]?.authorization).toBe('Bearer t0ken-value');
    const failed = await send('FAIL_URL');
    expect(failed).toEqual({ result: 'failed', status: 500, reason: `$FAIL_URL (${origin}) answered 500` });
    const moved = await send('MOVE_URL');
    expect(moved.result).toBe('refused');
    expect(moved.reason).toBe(`$MOVE_URL (${origin}) answered 307, a redirect to ${origin}/…; redirects are not followed`);
  });
});

import { describe, expect, it } from 'vitest';
import {
  alertSummary,
  channelDestination,
  pagerDutyEvent,
  pagerDutySchema,
  resolveChannel,
  slackSchema,
  slackMessage,
  type NotificationPayload,
} from '../../../activities/delivery/channels';
import { pagerDutyEventSchema, slackMessageSchema } from '../../support/channel-schemas';

const alert = {
  alert_id: 7,
  policy: 'fraud-watch@2',
  rule: 'recall-floor',
  kind: 'floor',
  severity: 'critical',
  state: 'firing',
  model_name: 'fraud <&> model',
  model_version: 'v3',
  cohort_id: 'cohort/fraud/v3/production/2026-12-01T00:00:00Z/2026-12-02T00:00:00Z',
  checkpoint: 'P7D',
  revision: 1,
  slice: { dimension: 'region', value: 'EU' },
  metric: 'recall',
  observed: 0.41234567,
  baseline: 0.5,
  diagnosis: { verdict: 'model' },
  runbook: 'docs/runbooks/floor.md',
  updated_at: '2026-12-08T10:00:00.000Z',
};
const firing: NotificationPayload = { idempotency_key: 'k1', transition: 'firing', alert };
const retracted: NotificationPayload = { idempotency_key: 'k2', transition: 'retracted', alert: { ...alert, state: 'retracted' } };
const KEY = 'R0UTINGKEY0123456789abcdefABCDEF';

describe('Slack messages', () => {
  it("are Block Kit messages as Slack's reference describes them, saying what changed where", () => {
    const message = slackMessage(firing, { runbook_base_url: 'https://git.example.com/hs/blob/main/' });
    expect(slackMessageSchema.parse(message)).toEqual(message);
    expect(message.text).toBe('[critical] recall-floor firing on fraud <&> model v3 (region=EU): recall 0.4123 vs 0.5 at P7D');
    const json = JSON.stringify(message);
    // mrkdwn text escapes &, < and >; the runbook is a link under the given base.
    expect(json).toContain('fraud &lt;&amp;&gt; model v3');
    expect(json).toContain('*Diagnosis*: model');
    expect(json).toContain('<https://git.example.com/hs/blob/main/docs/runbooks/floor.md|runbook>');
    expect(slackMessageSchema.parse(slackMessage(retracted, {})).blocks[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: 'recall-floor retracted' },
    });
  });

  it("show the observed value's 95% interval and its method when the judgement drew one", () => {
    const withInterval = { ...firing, alert: { ...alert, evidence: { metric_interval: [0.36, 0.46], interval_method: 'wilson' } } };
    expect(JSON.stringify(slackMessage(withInterval, {}))).toContain('*Observed (recall)*\\n0.4123 [0.36, 0.46] wilson');
    expect(JSON.stringify(slackMessage(firing, {}))).toContain('*Observed (recall)*\\n0.4123"');
    expect(pagerDutyEvent(withInterval, {}, KEY)).toMatchObject({
      payload: { custom_details: { observed: 0.41234567, observed_interval: [0.36, 0.46], interval_method: 'wilson' } },
    });
  });

  it('keep within the length limits Slack sets, however long a name', () => {
    const long = { ...firing, alert: { ...alert, rule: 'r'.repeat(400), model_name: 'm'.repeat(5000) } };
    expect(() => slackMessageSchema.parse(slackMessage(long, {}))).not.toThrow();
  });
});

describe('PagerDuty events', () => {
  it('trigger when an alert fires and resolve when it is retracted, one incident per alert, as the Events API v2 describes', () => {
    const trigger = pagerDutyEvent(firing, { runbook_base_url: 'https://git.example.com/hs' }, KEY);
    const resolve = pagerDutyEvent(retracted, {}, KEY);
    expect(pagerDutyEventSchema.parse(trigger)).toEqual(trigger);
    expect(pagerDutyEventSchema.parse(resolve)).toEqual(resolve);
    expect(trigger).toMatchObject({
      event_action: 'trigger',
      dedup_key: 'hindsight-alert-7',
      payload: { severity: 'critical', source: 'hindsight/fraud <&> model', summary: alertSummary(firing), class: 'floor', group: 'v3' },
      links: [{ href: 'https://git.example.com/hs/docs/runbooks/floor.md', text: 'runbook' }],
    });
    expect(resolve).toEqual({ routing_key: KEY, event_action: 'resolve', dedup_key: 'hindsight-alert-7' });
  });

  it("map Hindsight's severities onto PagerDuty's", () => {
    for (const [ours, theirs] of [
      ['critical', 'critical'],
      ['warning', 'warning'],
      ['info', 'info'],
    ]) {
      const event = pagerDutyEvent({ ...firing, alert: { ...alert, severity: ours } }, {}, KEY) as { payload: { severity: string } };
      expect(event.payload.severity).toBe(theirs);
    }
  });
});

describe('channels read their credentials from the worker when they send', () => {
  it('name a missing variable, never a value, and keep the values out of destinations', () => {
    const slack = { url_from_env: 'HS_SLACK' };
    const pagerduty = { routing_key_from_env: 'HS_PD', url: 'https://events.example.com/v2/enqueue' };
    expect(resolveChannel('slack', slack, firing, {})).toEqual({
      ok: false,
      receiver: 'slack $HS_SLACK',
      reason: "slack $HS_SLACK: the worker's environment has no HS_SLACK (url_from_env); set it and restart the worker",
    });
    const sent = resolveChannel('pagerduty', pagerduty, firing, { HS_PD: KEY });
    expect(sent).toMatchObject({ ok: true, url: 'https://events.example.com/v2/enqueue', secrets: [KEY] });
    const hook = resolveChannel('slack', slack, firing, { HS_SLACK: 'https://hooks.slack.example/services/T0/B0/secret' });
    expect(hook).toMatchObject({ ok: true, url: 'https://hooks.slack.example/services/T0/B0/secret' });
    expect(channelDestination('slack', slack)).toMatch(/^slack\/[0-9a-f]{32}$/);
    expect(channelDestination('pagerduty', pagerduty)).toMatch(/^pagerduty\/[0-9a-f]{32}$/);
  });
});

describe('a policy names channels by their variables', () => {
  it('refuses a literal Slack URL and a PagerDuty URL that carries a credential, naming the field', () => {
    const slack = slackSchema.safeParse({ url: 'https://hooks.slack.com/services/T0/B0/secret' });
    expect(slack.success).toBe(false);
    const onUrl = slack.error!.issues.find((issue) => issue.path.join('.') === 'url');
    expect(onUrl?.message).toMatch(/^a Slack incoming-webhook URL is itself the credential .* name it with url_from_env$/);
    const pagerduty = pagerDutySchema.safeParse({ routing_key_from_env: 'HS_PD', url: 'https://events.example.com/v2/enqueue?key=x' });
    expect(pagerduty.error!.issues.map((issue) => issue.path.join('.'))).toEqual(['url']);
    expect(slackSchema.safeParse({ url_from_env: 'HS_SLACK', max_age: 'PT2H' }).success).toBe(true);
  });
});

/**
 * What Slack and PagerDuty document their receivers to take, as the tests' local receivers
 * check it: Slack's incoming-webhook message with Block Kit blocks (header, section, context;
 * their text objects and length limits) and PagerDuty's Events API v2 event (trigger and
 * resolve). Written from the services' reference pages, independently of the code that builds
 * the messages.
 */
import { z } from 'zod';

const plainText = z.object({ type: z.literal('plain_text'), text: z.string().min(1), emoji: z.boolean().optional() }).strict();
const mrkdwnText = z.object({ type: z.literal('mrkdwn'), text: z.string().min(1), verbatim: z.boolean().optional() }).strict();
const textObject = z.union([plainText, mrkdwnText]);

const headerBlock = z
  .object({ type: z.literal('header'), text: plainText.refine((t) => t.text.length <= 150, 'a header holds at most 150 characters') })
  .strict();
const sectionBlock = z
  .object({
    type: z.literal('section'),
    text: textObject.refine((t) => t.text.length <= 3000, 'a section text holds at most 3000 characters').optional(),
    fields: z
      .array(textObject.refine((t) => t.text.length <= 2000, 'a field holds at most 2000 characters'))
      .min(1)
      .max(10)
      .optional(),
  })
  .strict()
  .refine((block) => block.text !== undefined || block.fields !== undefined, 'a section needs text or fields');
const contextBlock = z.object({ type: z.literal('context'), elements: z.array(textObject).min(1).max(10) }).strict();
const dividerBlock = z.object({ type: z.literal('divider') }).strict();

/** An incoming-webhook message: `text` (the notification's fallback) and up to 50 blocks. */
export const slackMessageSchema = z
  .object({
    text: z.string().min(1).max(40_000),
    blocks: z
      .array(z.union([headerBlock, sectionBlock, contextBlock, dividerBlock]))
      .min(1)
      .max(50),
  })
  .strict();

const severity = z.enum(['critical', 'error', 'warning', 'info']);

/** An Events API v2 alert event: `trigger` needs a payload; `resolve` names the alert by dedup_key. */
export const pagerDutyEventSchema = z.discriminatedUnion('event_action', [
  z
    .object({
      routing_key: z.string().length(32),
      event_action: z.literal('trigger'),
      dedup_key: z.string().min(1).max(255).optional(),
      payload: z
        .object({
          summary: z.string().min(1).max(1024),
          source: z.string().min(1),
          severity,
          timestamp: z.iso.datetime({ offset: true }).optional(),
          component: z.string().optional(),
          group: z.string().optional(),
          class: z.string().optional(),
          custom_details: z.record(z.string(), z.unknown()).optional(),
        })
        .strict(),
      client: z.string().optional(),
      client_url: z.url().optional(),
      links: z.array(z.object({ href: z.url(), text: z.string().optional() }).strict()).optional(),
      images: z.array(z.object({ src: z.url(), href: z.url().optional(), alt: z.string().optional() }).strict()).optional(),
    })
    .strict(),
  z
    .object({
      routing_key: z.string().length(32),
      event_action: z.enum(['acknowledge', 'resolve']),
      dedup_key: z.string().min(1).max(255),
    })
    .strict(),
]);

import type { Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { COHORT_SEARCH_ATTRIBUTES } from '../contracts/search-attributes';

/** The CLI's spelling of a type in `--search-attribute Name=Type`. */
const CLI_TYPE_NAMES: Record<SearchAttributeType, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

/** Arguments that make `temporal server start-dev` register the cohort search attributes. */
export function devServerSearchAttributeArgs(): string[] {
  return COHORT_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${CLI_TYPE_NAMES[key.type]}`]);
}

export interface SearchAttributeSetup {
  namespace: string;
  added: string[];
  already_registered: string[];
}

/**
 * Registers the cohort search attributes on an existing server through the operator service.
 * Idempotent: attributes already there with the right type are left alone; one registered
 * with another type is an error, since cohorts could not set it.
 */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<SearchAttributeSetup> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const custom = existing.customAttributes ?? {};
  const missing: Record<string, number> = {};
  const alreadyRegistered: string[] = [];
  for (const key of COHORT_SEARCH_ATTRIBUTES) {
    const wanted = encodeSearchAttributeIndexedValueType(key.type)!;
    const have = custom[key.name];
    if (have === undefined) missing[key.name] = wanted;
    else if (have === wanted) alreadyRegistered.push(key.name);
    else
      throw new Error(
        `search attribute ${key.name} is registered in namespace ${namespace} with another type; ` +
          `Hindsight needs ${CLI_TYPE_NAMES[key.type]}`,
      );
  }
  if (Object.keys(missing).length > 0) await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  return { namespace, added: Object.keys(missing), already_registered: alreadyRegistered };
}

/** A start refused because the server does not know our search attributes gets the fix in its message. */
export function explainSearchAttributeError(error: unknown): unknown {
  const messages: string[] = [];
  for (
    let e = error as { message?: string; details?: unknown; cause?: unknown } | undefined;
    e && messages.length < 5;
    e = e.cause as typeof e
  ) {
    messages.push(`${e.message ?? ''} ${String(e.details ?? '')}`);
  }
  if (!/search attribute|BadSearchAttributes/i.test(messages.join(' '))) return error;
  const names = COHORT_SEARCH_ATTRIBUTES.map((key) => key.name).join(', ');
  return new TemporalSetupError(
    `the Temporal server does not know Hindsight's search attributes (${names}); register them once with: npx hindsight setup-temporal`,
    { cause: error },
  );
}

export class TemporalSetupError extends Error {
  override readonly name = 'TemporalSetupError';
}

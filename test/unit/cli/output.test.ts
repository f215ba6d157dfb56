import { afterEach, describe, expect, it, vi } from 'vitest';
import { createOutput, escapeForTerminal, escapeJsonText } from '../../../cli/output';

/** Every character class the terminal must not act on, in a model name as a careless producer might send it. */
const HOSTILE = 'fraud\u202e1v\u202c \u2066x\u2069 \u200e\u200f\u061c \u001b[31mred\u001b[0m \r\u0000\u0007\u007f\u0085\u009b';

let written = '';
afterEach(() => {
  vi.restoreAllMocks();
  written = '';
});
function capture(stream: NodeJS.WriteStream) {
  vi.spyOn(stream, 'write').mockImplementation((chunk) => ((written += String(chunk)), true));
}

describe('terminal output', () => {
  it('escapes controls and bidi characters as \\uXXXX, keeping newlines and tabs', () => {
    expect(escapeForTerminal(`a\tb\n${HOSTILE}`)).toBe(
      'a\tb\nfraud\\u202e1v\\u202c \\u2066x\\u2069 \\u200e\\u200f\\u061c \\u001b[31mred\\u001b[0m \\u000d\\u0000\\u0007\\u007f\\u0085\\u009b',
    );
    expect(escapeForTerminal('plain text, ümlauts, 模型 and emoji 🙂')).toBe('plain text, ümlauts, 模型 and emoji 🙂');
  });

  it('is what every command prints as text, on stdout and stderr', () => {
    capture(process.stdout);
    createOutput(false).result({ model: HOSTILE }, () => `model ${HOSTILE}\nnext line`);
    expect(written).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
    expect(written.split('\n')).toHaveLength(3);
    vi.restoreAllMocks();
    written = '';
    capture(process.stderr);
    createOutput(false).info(`warning about ${HOSTILE}`);
    expect(written).toBe(`warning about ${escapeForTerminal(HOSTILE)}\n`);
  });

  it('leaves --json valid and the same document, with C1 and bidi characters escaped too', () => {
    capture(process.stdout);
    createOutput(true).result({ model: HOSTILE, n: 1 }, () => '');
    expect(written).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
    expect(JSON.parse(written)).toEqual({ model: HOSTILE, n: 1 });
    expect(escapeJsonText(JSON.stringify('\u202e'))).toBe('"\\u202e"');
  });
});

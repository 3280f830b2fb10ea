// A handler's error text reaches clients (the command's `error.message`) short and sanitized: its first line,
// no control or bidi characters, no URLs (credentials) or file paths, at most MAX_ERROR_TEXT code points.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeFailure, MAX_ERROR_TEXT } from '../../src/processor/errors.ts';

describe('handler error text shown to clients', () => {
  it('keeps a plain message as it is', () => {
    expect(describeFailure(new Error('poison: this handler always fails'))).toEqual({ code: 'handler_error', message: 'poison: this handler always fails' });
  });

  it('drops the stack, credentials in URLs, paths and control characters, and cuts long text short', () => {
    const err = new Error(`upstream postgres://admin:hunter2@10.0.0.5/ledger refused\n    at call (/srv/app/node_modules/x/index.js:10:5)`);
    expect(describeFailure(err).message).toBe('upstream <url> refused');
    expect(describeFailure(new Error('cannot read /etc/oncely/secrets.json')).message).toBe('cannot read <path>');
    expect(describeFailure(new Error('a\u202Eb\u0000c\u001b[31m')).message).toBe('a b c [31m');
    const long = describeFailure(new Error('x'.repeat(300))).message;
    expect(Array.from(long)).toHaveLength(MAX_ERROR_TEXT);
    expect(long.endsWith('…')).toBe(true);
  });

  it('never exceeds the bound, never holds a newline, a control character or a lone surrogate, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), (text) => {
        const { message } = describeFailure(new Error(text));
        expect(Array.from(message).length).toBeLessThanOrEqual(MAX_ERROR_TEXT);
        // eslint-disable-next-line no-control-regex
        expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
        expect(message).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
      }),
      { numRuns: 2000 },
    );
  });
});

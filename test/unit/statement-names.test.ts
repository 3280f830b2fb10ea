// Statements are named (prepared once per connection) by their text's hash, but only so many texts per
// process: a handler that builds its SQL per call must not leave a prepared statement per call on every
// connection.
import { describe, expect, it } from 'vitest';
import { statementName } from '../../src/db/pool.ts';

describe('statementName', () => {
  it('names a text by its hash, the same name every time, and stops naming new texts after 500', () => {
    const first = statementName('SELECT -1 WHERE $1::int = 1');
    expect(first).toMatch(/^oncely_[A-Za-z0-9_-]{27}$/);
    expect(statementName('SELECT -1 WHERE $1::int = 1')).toBe(first);
    const names = Array.from({ length: 600 }, (_, i) => statementName(`SELECT ${i} WHERE $1::int = 1`));
    const named = names.filter((name) => name !== undefined);
    expect(named.length).toBe(499);
    expect(new Set(named).size).toBe(499);
    // Texts named before the bound keep their names.
    expect(statementName('SELECT -1 WHERE $1::int = 1')).toBe(first);
    expect(statementName('SELECT 0 WHERE $1::int = 1')).toBe(names[0]);
    expect(statementName('SELECT 599 WHERE $1::int = 1')).toBeUndefined();
  });
});

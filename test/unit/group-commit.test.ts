import { describe, expect, it } from 'vitest';
import { createGroupCommit } from '../../src/processor/group-commit.ts';

/** A coalescer whose flushes are recorded and held open until the test lets them go. */
function recorder(maxSize = 500) {
  const flushes: { items: string[]; end: (error?: Error) => void }[] = [];
  const group = createGroupCommit<string, string>({
    maxSize,
    sizeOf: (item) => item.length,
    flush: (items) =>
      new Promise((resolve, reject) => {
        flushes.push({
          items: [...items],
          end: (error) =>
            error
              ? reject(error)
              : resolve(
                  items.map((item) => (item.startsWith('bad') ? { status: 'rejected', reason: new Error(item) } : { status: 'fulfilled', value: item.toUpperCase() })),
                ),
        });
      }),
  });
  return { group, flushes };
}

describe('group commit', () => {
  it('flushes a lone request at once, without waiting for company', async () => {
    const { group, flushes } = recorder();
    const answer = group.submit('a');
    expect(flushes.map((f) => f.items)).toEqual([['a']]);
    flushes[0]!.end();
    expect(await answer).toBe('A');
    expect(group.flushes()).toBe(1);
  });

  it('gathers the requests that arrive during a flush into the next one, each answered on its own', async () => {
    const { group, flushes } = recorder();
    const answers = ['a', 'b', 'c', 'bad-d'].map((item) => group.submit(item).catch((err: Error) => `failed ${err.message}`));
    expect(flushes.map((f) => f.items)).toEqual([['a']]);
    flushes[0]!.end();
    await new Promise((resolve) => setImmediate(resolve));
    expect(flushes.map((f) => f.items)).toEqual([['a'], ['b', 'c', 'bad-d']]);
    flushes[1]!.end();
    expect(await Promise.all(answers)).toEqual(['A', 'B', 'C', 'failed bad-d']);
  });

  it('runs one flush at a time: the next starts when the open one has ended, with every request that came meanwhile', async () => {
    const { group, flushes } = recorder();
    const answers = ['a', 'b'].map((item) => group.submit(item));
    await new Promise((resolve) => setImmediate(resolve));
    const c = group.submit('c');
    expect(flushes.map((f) => f.items)).toEqual([['a']]);
    flushes[0]!.end();
    await new Promise((resolve) => setImmediate(resolve));
    expect(flushes.map((f) => f.items)).toEqual([['a'], ['b', 'c']]);
    flushes[1]!.end();
    expect(await Promise.all([...answers, c])).toEqual(['A', 'B', 'C']);
  });

  it('splits a flood at maxSize; a request larger than that goes alone', async () => {
    const { group, flushes } = recorder(4);
    const answers = ['x', 'aa', 'bb', 'c', 'dddddd', 'e'].map((item) => group.submit(item));
    for (let i = 0; i < 4; i++) {
      flushes[i]!.end();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(flushes.map((f) => f.items)).toEqual([['x'], ['aa', 'bb'], ['c'], ['dddddd'], ['e']].slice(0, 5));
    flushes[4]!.end();
    expect(await Promise.all(answers)).toEqual(['X', 'AA', 'BB', 'C', 'DDDDDD', 'E']);
  });

  it('fails only the requests of a failed flush, with its error, and goes on with the next', async () => {
    const { group, flushes } = recorder();
    const answers = ['a', 'b', 'c'].map((item) => group.submit(item).catch((err: Error) => `failed ${err.message}`));
    flushes[0]!.end(new Error('database down'));
    await new Promise((resolve) => setImmediate(resolve));
    flushes[1]!.end();
    expect(await Promise.all(answers)).toEqual(['failed database down', 'B', 'C']);
  });
});

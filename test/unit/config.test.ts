import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, relayUrl } from '../../src/config.ts';

describe('configuration', () => {
  it('fills in the contract defaults', () => {
    const config = parseConfig({});
    expect(config).toMatchObject({ PORT: 3000, HOST: '127.0.0.1', RETRY_LIMIT: 5, LOG_LEVEL: 'info', API_KEYS: [] });
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it('names every bad variable in one line, never silently falling back', () => {
    let error: unknown;
    try {
      parseConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x/y', RETRY_LIMIT: '0' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toMatch(/PORT/);
    expect(message).toMatch(/DATABASE_URL/);
    expect(message).toMatch(/RETRY_LIMIT/);
  });

  it('reads API_KEYS as a comma-separated list and rejects short keys without echoing them', () => {
    const all = ['submit', 'read', 'operate'];
    expect(parseConfig({ API_KEYS: 'aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb' }).API_KEYS).toEqual([
      { client: undefined, key: 'aaaaaaaaaaaaaaaa', scopes: all },
      { client: undefined, key: 'bbbbbbbbbbbbbbbb', scopes: all },
    ]);
    expect(() => parseConfig({ API_KEYS: 'short-secret' })).toThrow(/API_KEYS/);
    expect(() => parseConfig({ API_KEYS: 'short-secret' })).not.toThrow(/short-secret/);
  });

  it('reads client:key and client:key:scopes entries; keys of one client share it', () => {
    expect(parseConfig({ API_KEYS: 'billing:k1-0123456789abcdef,billing:k2-0123456789abcdef:read+operate,shop:k3-0123456789abcdef:submit' }).API_KEYS).toEqual([
      { client: 'billing', key: 'k1-0123456789abcdef', scopes: ['submit', 'read', 'operate'] },
      { client: 'billing', key: 'k2-0123456789abcdef', scopes: ['read', 'operate'] },
      { client: 'shop', key: 'k3-0123456789abcdef', scopes: ['submit'] },
    ]);
  });

  it('refuses, in one line naming the entry but never the key, keys a request could never send and malformed entries', () => {
    const refused: [string, RegExp][] = [
      ['has space-0123456789', /entry 1: the key has a character a header cannot carry/],
      ['billing:schlüssel-0123456789', /entry 1: the key has a character a header cannot carry/],
      [`billing:${'x'.repeat(513)}`, /entry 1: the key is longer than 512 characters/],
      ['billing:', /entry 1: the key is empty/],
      ['aaaaaaaaaaaaaaaa,,bbbbbbbbbbbbbbbb', /entry 2: is empty/],
      ['aaaaaaaaaaaaaaaa,', /entry 2: is empty/],
      [' , ', /names no key/],
      ['billing:aaaaaaaaaaaaaaaa:write', /entry 1: scopes must be submit, read, operate/],
      ['billing:aaaaaaaaaaaaaaaa:', /entry 1: scopes must be/],
      ['bad name:aaaaaaaaaaaaaaaa', /entry 1: the client name/],
      ['anonymous:aaaaaaaaaaaaaaaa', /entry 1: the client name/],
      ['a:b:aaaaaaaaaaaaaaaa:read', /entry 1: must be key, client:key or client:key:scopes/],
      ['billing:aaaaaaaaaaaaaaaa,shop:aaaaaaaaaaaaaaaa', /entry 2: the key is listed twice/],
    ];
    for (const [value, message] of refused) {
      let error: Error | undefined;
      try {
        parseConfig({ API_KEYS: value });
      } catch (err) {
        error = err as Error;
      }
      expect(error?.message, value).toMatch(message);
      expect(error?.message.split('\n')).toHaveLength(1);
      const key = value.split(':').at(1) ?? value;
      if (key.length >= 8) expect(error?.message).not.toContain(key);
    }
  });

  it('rejects a port out of range', () => {
    expect(() => parseConfig({ PORT: '70000' })).toThrow(/PORT/);
    expect(parseConfig({ PORT: '0' }).PORT).toBe(0);
  });

  it('reads the relay settings: broker, per-broker default URL, type map, retention', () => {
    const none = parseConfig({});
    expect(none.RELAY_BROKER).toBeUndefined();
    expect(relayUrl(none)).toBeUndefined();
    expect(none).toMatchObject({ RELAY_EXCHANGE: 'oncely.events', RELAY_BATCH_SIZE: 100, RELAY_POLL_INTERVAL_MS: 200, OUTBOX_RETENTION: 7 * 86_400_000 });
    expect(relayUrl(parseConfig({ RELAY_BROKER: 'nats' }))).toBe('nats://127.0.0.1:4222');
    expect(relayUrl(parseConfig({ RELAY_BROKER: 'redis', RELAY_URL: 'redis://cache:6380' }))).toBe('redis://cache:6380');
    const mapped = parseConfig({ RELAY_TYPE_MAP: 'account.credited=ledger.record, account.debited = ledger.record' });
    expect([...mapped.RELAY_TYPE_MAP]).toEqual([
      ['account.credited', 'ledger.record'],
      ['account.debited', 'ledger.record'],
    ]);
    expect(() => parseConfig({ RELAY_BROKER: 'kafka' })).toThrow(/RELAY_BROKER/);
    expect(() => parseConfig({ RELAY_TYPE_MAP: 'account.credited' })).toThrow(/RELAY_TYPE_MAP/);
    expect(() => parseConfig({ RELAY_TYPE_MAP: 'a=b=c' })).toThrow(/RELAY_TYPE_MAP/);
    expect(() => parseConfig({ OUTBOX_RETENTION: '10s' })).toThrow(/OUTBOX_RETENTION/);
    expect(() => parseConfig({ RELAY_BATCH_SIZE: '0' })).toThrow(/RELAY_BATCH_SIZE/);
  });

  it('runs no inbox unless an INBOX_*_URL is set, and checks each broker URL and name', () => {
    const config = parseConfig({});
    expect(config).toMatchObject({ INBOX_RABBITMQ_QUEUE: 'oncely.commands', INBOX_NATS_ACK_WAIT_SECONDS: 30, INBOX_REDIS_CLAIM_IDLE_MS: 60_000 });
    expect([config.INBOX_RABBITMQ_URL, config.INBOX_NATS_URL, config.INBOX_REDIS_URL]).toEqual([undefined, undefined, undefined]);
    expect(parseConfig({ INBOX_REDIS_URL: 'redis://127.0.0.1:6379' }).INBOX_REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(() => parseConfig({ INBOX_RABBITMQ_URL: 'http://127.0.0.1:5672' })).toThrow(/INBOX_RABBITMQ_URL/);
    expect(() => parseConfig({ INBOX_NATS_STREAM: 'has.dots' })).toThrow(/INBOX_NATS_STREAM/);
    expect(() => parseConfig({ INBOX_REDIS_CLIENT_ID: 'two words' })).toThrow(/INBOX_REDIS_CLIENT_ID/);
    // Below a reconnect's worst pause a held delivery could be redelivered or claimed while it is held.
    expect(() => parseConfig({ INBOX_REDIS_CLAIM_IDLE_MS: '14999' })).toThrow(/INBOX_REDIS_CLAIM_IDLE_MS/);
    expect(() => parseConfig({ INBOX_NATS_ACK_WAIT_SECONDS: '14' })).toThrow(/INBOX_NATS_ACK_WAIT_SECONDS/);
    expect(parseConfig({ INBOX_REDIS_CLAIM_IDLE_MS: '15000', INBOX_NATS_ACK_WAIT_SECONDS: '15' })).toMatchObject({
      INBOX_REDIS_CLAIM_IDLE_MS: 15_000,
      INBOX_NATS_ACK_WAIT_SECONDS: 15,
    });
  });
});

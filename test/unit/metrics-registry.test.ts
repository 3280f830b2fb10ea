// The metric families are defined once per system: several systems in one process never clash, label
// values stay bounded, and a retry's reason is read from the error its settlement carries.
import { describe, expect, it } from 'vitest';
import { createMetrics, retryReasonOf, retryReasonOfError } from '../../src/metrics/registry.ts';

describe('metrics registry', () => {
  it('lets several systems in one process define every family without a duplicate registration', async () => {
    const a = createMetrics({ commandTypes: ['account.open'] });
    const b = createMetrics({ commandTypes: ['account.open'] });
    a.submitted('account.open', 'new');
    const [textA, textB] = await Promise.all([a.render(), b.render()]);
    expect(textA.body).toMatch(/^oncely_commands_submitted_total\{type="account.open",answer="new"\} 1$/m);
    expect(textB.body).not.toMatch(/^oncely_commands_submitted_total\{/m);
    // The process metrics are shared, and appear once per exposition.
    expect(textA.body.match(/^# TYPE process_cpu_user_seconds_total /gm)).toHaveLength(1);
  });

  it('labels anything but a registered command type "unknown"', () => {
    const metrics = createMetrics({ commandTypes: ['account.open'] });
    expect(metrics.typeLabel('account.open')).toBe('account.open');
    for (const type of ['account.opem', '', 42, undefined, { toString: () => 'account.open' }]) expect(metrics.typeLabel(type)).toBe('unknown');
  });

  it('reads the retry reason from the error a settlement carries', () => {
    const transient = (sqlstate?: string) => ({ code: 'transient_error', message: `transient database failure${sqlstate ? ` (SQLSTATE ${sqlstate})` : ''}` });
    expect(retryReasonOf(transient('40P01'))).toBe('deadlock');
    expect(retryReasonOf(transient('40001'))).toBe('serialization');
    expect(retryReasonOf(transient('55P03'))).toBe('lock_timeout');
    expect(retryReasonOf(transient('57P01'))).toBe('connection');
    expect(retryReasonOf(transient())).toBe('connection');
    expect(retryReasonOf(transient('57014'))).toBe('other');
    expect(retryReasonOf({ code: 'handler_error', message: 'the handler failed with a database error (SQLSTATE 23505)' })).toBe('handler_error');
    expect(retryReasonOf({ code: 'deferred', message: 'the batch ran out of time before this command' })).toBe('deferred');
    expect(retryReasonOfError(Object.assign(new Error('deadlock detected'), { code: '40P01' }), false)).toBe('deadlock');
    expect(retryReasonOfError(new Error('Connection terminated'), true)).toBe('connection');
  });
});

// When tracing is on, and where its spans go, follow the standard OTEL_* variables; a stored traceparent
// reads back as the context it was written from, and anything else reads as "no context".
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { formatTraceParent, parseTraceParent } from '../../src/tracing/trace-parent.ts';
import { DEFAULT_OTLP_TRACES_URL, tracingSettings } from '../../src/tracing/settings.ts';

const settings = (env: Record<string, string>) => tracingSettings(parseConfig(env));

describe('tracing settings', () => {
  it('is off without OTEL_* variables, with exporter none, and with OTEL_SDK_DISABLED', () => {
    expect(settings({})).toBeUndefined();
    expect(settings({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBeUndefined();
    expect(settings({ OTEL_SDK_DISABLED: 'TRUE', OTEL_TRACES_EXPORTER: 'otlp' })).toBeUndefined();
    expect(settings({ OTEL_SERVICE_NAME: 'billing' })).toBeUndefined();
  });

  it('is on with an exporter named, or an OTLP endpoint set', () => {
    expect(settings({ OTEL_TRACES_EXPORTER: 'otlp' })).toMatchObject({ exporters: ['otlp'], otlpUrl: DEFAULT_OTLP_TRACES_URL, serviceName: 'oncely' });
    expect(settings({ OTEL_TRACES_EXPORTER: 'console, otlp' })?.exporters).toEqual(['console', 'otlp']);
    expect(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toMatchObject({ exporters: ['otlp'], otlpUrl: 'http://collector:4318/v1/traces' });
    expect(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/base/' })?.otlpUrl).toBe('http://collector:4318/base/v1/traces');
    expect(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://b/traces' })?.otlpUrl).toBe('https://b/traces');
    expect(settings({ OTEL_TRACES_EXPORTER: 'console', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318' })?.exporters).toEqual(['console']);
    expect(settings({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SERVICE_NAME: 'billing', OTEL_BSP_SCHEDULE_DELAY: '250' })).toMatchObject({
      serviceName: 'billing',
      scheduledDelayMillis: 250,
    });
    expect(settings({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_HEADERS: 'api-key=s%20ecret,x-team=core' })?.otlpHeaders).toEqual({
      'api-key': 's ecret',
      'x-team': 'core',
    });
  });

  it('refuses malformed OTEL_* values by name, without echoing header values', () => {
    expect(() => parseConfig({ OTEL_TRACES_EXPORTER: 'jaeger' })).toThrow(/OTEL_TRACES_EXPORTER/);
    expect(() => parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(() => parseConfig({ OTEL_SDK_DISABLED: 'yes' })).toThrow(/OTEL_SDK_DISABLED/);
    expect(() => parseConfig({ OTEL_EXPORTER_OTLP_HEADERS: 'secret-token-value' })).toThrow(/OTEL_EXPORTER_OTLP_HEADERS/);
    expect(() => parseConfig({ OTEL_EXPORTER_OTLP_HEADERS: 'secret-token-value' })).not.toThrow(/secret-token-value/);
  });
});

describe('stored traceparent', () => {
  const context = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 };

  it('reads back as the span context it was written from, as a remote parent', () => {
    const stored = formatTraceParent(context);
    expect(stored).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    expect(parseTraceParent(stored)).toEqual({ ...context, isRemote: true });
    expect(formatTraceParent({ ...context, traceFlags: 0 })).toMatch(/-00$/);
  });

  it('reads null, malformed and all-zero values as no context, and writes nothing for an invalid context', () => {
    for (const value of [
      null,
      undefined,
      '',
      'garbage',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '01-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
    ]) {
      expect(parseTraceParent(value), String(value)).toBeUndefined();
    }
    expect(formatTraceParent({ ...context, traceId: '00000000000000000000000000000000' })).toBeUndefined();
  });
});

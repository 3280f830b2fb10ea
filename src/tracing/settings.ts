import type { Config } from '../config.ts';

/** What the standard OTEL_* variables ask of tracing, resolved: the SDK is configured from this alone. */
export interface TracingSettings {
  serviceName: string;
  exporters: ('otlp' | 'console')[];
  /** Where OTLP/HTTP spans go, when `otlp` is one of the exporters. */
  otlpUrl: string;
  otlpHeaders: Record<string, string>;
  /** Milliseconds between exports of finished spans. */
  scheduledDelayMillis: number;
}

export const DEFAULT_OTLP_TRACES_URL = 'http://localhost:4318/v1/traces';

/**
 * Tracing is on when OTEL_TRACES_EXPORTER names `otlp` or `console`, or an OTLP endpoint is set (then the
 * exporter is `otlp`); `none` or OTEL_SDK_DISABLED=true keep it off. Undefined means off: no SDK is loaded.
 *
 * @example
 * tracingSettings(parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }))?.otlpUrl
 * // 'http://collector:4318/v1/traces'
 */
export function tracingSettings(config: Config): TracingSettings | undefined {
  if (config.OTEL_SDK_DISABLED) return undefined;
  const named = config.OTEL_TRACES_EXPORTER;
  const endpointSet = config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined || config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined;
  if (named?.includes('none')) return undefined;
  const exporters = named ? [...new Set(named.filter((name) => name !== 'none'))] : endpointSet ? (['otlp'] as const) : [];
  if (exporters.length === 0) return undefined;
  return {
    serviceName: config.OTEL_SERVICE_NAME ?? 'oncely',
    exporters: [...exporters],
    otlpUrl: otlpTracesUrl(config),
    otlpHeaders: config.OTEL_EXPORTER_OTLP_HEADERS ?? {},
    scheduledDelayMillis: config.OTEL_BSP_SCHEDULE_DELAY ?? 5000,
  };
}

/** The traces URL as the OTLP specification builds it: the signal's own endpoint as given, else `<base>/v1/traces`. */
function otlpTracesUrl(config: Config): string {
  if (config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!base) return DEFAULT_OTLP_TRACES_URL;
  return `${base.endsWith('/') ? base : `${base}/`}v1/traces`;
}

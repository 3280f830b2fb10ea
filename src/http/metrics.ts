/** Latency buckets in seconds, wide enough to show a `Prefer: wait` held for its whole 30 seconds. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Series {
  labels: string;
  count: number;
  sum: number;
  buckets: number[];
}

/**
 * In-process HTTP metrics in the Prometheus text format. Routes are labelled by their pattern
 * (`/v1/commands/:id`), never by the raw path, so the label set stays bounded whatever clients send.
 */
export function createHttpMetrics(gauges: () => Record<string, number>) {
  const requests = new Map<string, number>();
  const durations = new Map<string, Series>();
  const escape = (value: string) => value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');

  return {
    observe(method: string, route: string, status: number, seconds: number) {
      const key = `method="${escape(method)}",route="${escape(route)}",status="${status}"`;
      requests.set(key, (requests.get(key) ?? 0) + 1);
      const labels = `method="${escape(method)}",route="${escape(route)}"`;
      let series = durations.get(labels);
      if (!series) durations.set(labels, (series = { labels, count: 0, sum: 0, buckets: BUCKETS.map(() => 0) }));
      series.count++;
      series.sum += seconds;
      BUCKETS.forEach((bound, i) => {
        if (seconds <= bound) series.buckets[i] = (series.buckets[i] ?? 0) + 1;
      });
    },
    render(): string {
      const lines = ['# HELP oncely_http_requests_total HTTP requests by route pattern and status.', '# TYPE oncely_http_requests_total counter'];
      for (const [labels, count] of requests) lines.push(`oncely_http_requests_total{${labels}} ${count}`);
      lines.push('# HELP oncely_http_request_duration_seconds HTTP request duration.', '# TYPE oncely_http_request_duration_seconds histogram');
      for (const series of durations.values()) {
        BUCKETS.forEach((bound, i) => lines.push(`oncely_http_request_duration_seconds_bucket{${series.labels},le="${bound}"} ${series.buckets[i] ?? 0}`));
        lines.push(`oncely_http_request_duration_seconds_bucket{${series.labels},le="+Inf"} ${series.count}`);
        lines.push(`oncely_http_request_duration_seconds_sum{${series.labels}} ${series.sum}`);
        lines.push(`oncely_http_request_duration_seconds_count{${series.labels}} ${series.count}`);
      }
      for (const [name, value] of Object.entries(gauges())) lines.push(`# TYPE ${name} gauge`, `${name} ${value}`);
      return lines.join('\n') + '\n';
    },
  };
}

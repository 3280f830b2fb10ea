/** Milliseconds per unit of a duration such as `30d`, `12h`, `30m` or `45s`. */
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** The form `parseDuration` accepts, for error messages. */
export const DURATION_FORMAT = 'a whole number followed by s, m, h or d (for example 7d, 12h, 30m)';

/**
 * Parses a duration written as a whole number and one unit (s, m, h, d) into milliseconds, or null when it
 * is not one. Only one unit: `1d12h` is refused rather than guessed at.
 *
 * @example
 * parseDuration('7d'); // 604800000
 * parseDuration('7 days'); // null
 */
export function parseDuration(text: string): number | null {
  const match = /^(\d{1,9})([smhd])$/.exec(text.trim());
  if (!match) return null;
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  return ms > 0 ? ms : null;
}

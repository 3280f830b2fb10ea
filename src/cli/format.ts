// Human-readable output of the CLI (with --json the values themselves are printed instead).
import type { CommandStatus } from '../core/envelope.ts';

const json = (value: unknown) => (value === null || value === undefined ? '-' : JSON.stringify(value));

/** Label/value lines, labels padded to one column. */
export function formatFields(fields: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...fields.map(([label]) => label.length));
  return fields.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}

/** A table with a header row, each column as wide as its widest cell. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function formatStatus(status: CommandStatus): string {
  return formatFields([
    ['id', status.id],
    ['type', status.type],
    ['entity', status.entityId],
    ['expected version', status.expectedVersion === null ? '-' : String(status.expectedVersion)],
    ['status', status.status],
    ['attempts', String(status.attempts)],
    ['result', json(status.result)],
    ['error', json(status.error)],
    ['submitted', status.submittedAt],
    ['updated', status.updatedAt],
    ['completed', status.completedAt ?? '-'],
  ]);
}

import type { CommandStatus } from '../core/envelope.ts';
import type { CommandRow } from './sql.ts';

/** The public view of a stored command. */
export function toCommandStatus(row: CommandRow): CommandStatus {
  return {
    id: row.id,
    type: row.type,
    entityId: row.entity_id,
    expectedVersion: row.expected_version,
    status: row.status,
    attempts: row.attempts,
    result: row.result ?? null,
    error: row.error ?? null,
    submittedAt: new Date(row.submitted_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    completedAt: row.completed_at ? new Date(row.completed_at).toISOString() : null,
  };
}

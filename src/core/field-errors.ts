export interface FieldError {
  path: string;
  message: string;
}

/** zod issues as `{ path, message }`, with dotted paths (`payload.amount`, `commands.3.id`). */
export function fieldErrors(issues: readonly { path: readonly PropertyKey[]; message: string }[], prefix = ''): FieldError[] {
  return issues.slice(0, 50).map((issue) => ({
    path:
      [prefix, ...issue.path.map(String)]
        .filter((part) => part !== '')
        .join('.')
        .slice(0, 200) || '(root)',
    // Messages may quote the client's own keys back; keep them short.
    message: issue.message.length > 300 ? `${issue.message.slice(0, 300)}...` : issue.message,
  }));
}

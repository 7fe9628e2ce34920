/**
 * LanceDB's native module logs notices (a table about to be created, a deprecation) straight to
 * stderr, several per build or command: outside the workers' structured logs, and burying the
 * CLI's own messages. It reads LANCEDB_LOG once, when it loads, so the loader calls this first:
 * only its errors show unless the operator sets LANCEDB_LOG (e.g. `warn`, `debug`) to see more.
 */
export function quietLanceDbNotices(): void {
  process.env.LANCEDB_LOG ??= 'error';
}

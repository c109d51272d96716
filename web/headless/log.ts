/**
 * The headless node's log: one line per event that matters, easy to grep and to cut:
 *   2026-12-04T18:30:00.000Z peer joined peers=3 id=ab12…(40 hex) records=2 mail=5
 * The ISO time, "peer", the event, then key=value fields; a value with a space, a quote or an
 * equals sign is JSON-quoted, so every line splits the same way.
 */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Log {
  (event: string, fields?: LogFields): void;
}

/** A log writing lines to `write` (stdout by default), times from `now`. */
export function createLog(write: (line: string) => void = (line) => process.stdout.write(line), now: () => Date = () => new Date()): Log {
  return (event, fields = {}) => write(`${formatLine(now(), event, fields)}\n`);
}

export function formatLine(at: Date, event: string, fields: LogFields): string {
  const parts = [at.toISOString(), 'peer', event];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    parts.push(`${key}=${formatValue(value)}`);
  }
  return parts.join(' ');
}

function formatValue(value: string | number | boolean | null): string {
  const text = String(value);
  return text === '' || /[\s"=\\]/.test(text) ? JSON.stringify(text) : text;
}

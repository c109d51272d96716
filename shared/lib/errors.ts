/** Error codes used across the engine. Messages say what to do next. */
export const ErrorCode = {
  Timeout: 'TIMEOUT',
  ChannelClosed: 'CHANNEL_CLOSED',
  /** ICE found no path between the two ends ('ice failed', 'ice checking timed out'). */
  IceFailed: 'ICE_FAILED',
  NoRoute: 'NO_ROUTE',
  HopLimit: 'HOP_LIMIT',
  Busy: 'BUSY',
  UnknownMethod: 'UNKNOWN_METHOD',
  BadRequest: 'BAD_REQUEST',
  NotFound: 'NOT_FOUND',
  Rejected: 'REJECTED',
  NameTaken: 'NAME_TAKEN',
  InvalidName: 'INVALID_NAME',
  BudgetExhausted: 'BUDGET_EXHAUSTED',
  Closed: 'CLOSED',
  StorageUnavailable: 'STORAGE_UNAVAILABLE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class PeerchatError extends Error {
  readonly code: ErrorCode;
  /** A BUSY peer's word on when to try again, in ms, when it gave one. */
  readonly retryMs: number | undefined;
  constructor(code: ErrorCode, message: string, retryMs?: number) {
    super(message);
    this.name = 'PeerchatError';
    this.code = code;
    this.retryMs = retryMs;
  }
}

/** The code of a PeerchatError, 'unknown' for anything else: for counting failures by reason. */
export function errorCode(err: unknown): string {
  return err instanceof PeerchatError ? err.code : 'unknown';
}

export function isPeerchatError(err: unknown, code?: ErrorCode): err is PeerchatError {
  return err instanceof PeerchatError && (code === undefined || err.code === code);
}

/**
 * A PeerchatError without a stack trace, for failures that are the protocol's control flow: an
 * `err` a peer answered, a refusal a handler sends a peer, requests failing as their channel
 * closes. Their stack would name only the code that read or refused a frame, and capturing it
 * cost ten times the rest of the error (3% of a chat simulation's CPU, thousands an hour).
 * V8 reads `Error.stackTraceLimit`; where an engine has none, the error is made as usual.
 */
export function quietError(code: ErrorCode, message: string, retryMs?: number): PeerchatError {
  const errors = Error as { stackTraceLimit?: number };
  const limit = errors.stackTraceLimit;
  if (typeof limit !== 'number') return new PeerchatError(code, message, retryMs);
  errors.stackTraceLimit = 0;
  try {
    return new PeerchatError(code, message, retryMs);
  } finally {
    errors.stackTraceLimit = limit;
  }
}

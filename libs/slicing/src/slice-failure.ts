import { RescueError } from '@rescue/domain';

/** Why a function could not be sliced. Stable strings: they appear in reports. */
export const SLICE_FAILURE_CLASSES = ['unsupported_language', 'parse_error', 'too_large', 'too_deep', 'too_complex', 'timeout', 'worker_failed'] as const;
export type SliceFailureClass = (typeof SLICE_FAILURE_CLASSES)[number];

/**
 * Whether a failure is a verdict on the function itself, the same on any machine at any load, so
 * a store may keep it in place of the slice. A `timeout` is the wall-clock safety net firing: it
 * says how this run went (a busy machine), so it is never kept and the next build slices again.
 * Nor is `worker_failed`, a SlicerPool thread that threw or died on the record (out of memory, a
 * bug): that says how the thread went, not what the function is.
 */
export function isLasting(failureClass: SliceFailureClass): boolean {
  return failureClass !== 'timeout' && failureClass !== 'worker_failed';
}

/**
 * A classified failure: the record goes to the report, the batch goes on. A language without a
 * grammar is `unsupported`; code that does not parse, or is too large, too deep or too much work
 * for the limits, fails the same way again, so it is `invalid-input`; neither is retried. A
 * `timeout` or `worker_failed` may pass on another run, so it is `transient`.
 */
export class SliceFailure extends RescueError {
  readonly kind: 'unsupported' | 'invalid-input' | 'transient';

  constructor(
    readonly failureClass: SliceFailureClass,
    message: string,
  ) {
    super(message);
    this.kind = failureClass === 'unsupported_language' ? 'unsupported' : isLasting(failureClass) ? 'invalid-input' : 'transient';
  }
}

import { RescueError } from '@rescue/domain';

/** Why a function could not be sliced. Stable strings: they appear in reports. */
export const SLICE_FAILURE_CLASSES = ['unsupported_language', 'parse_error', 'too_large', 'too_deep', 'timeout'] as const;
export type SliceFailureClass = (typeof SLICE_FAILURE_CLASSES)[number];

/**
 * A classified failure: the record goes to the report, the batch goes on. Neither kind is retried:
 * a language without a grammar is `unsupported`; code that does not parse, or is too large, too
 * deep or too slow for the limits, fails the same way again, so it is `invalid-input`.
 */
export class SliceFailure extends RescueError {
  readonly kind: 'unsupported' | 'invalid-input';

  constructor(readonly failureClass: SliceFailureClass, message: string) {
    super(message);
    this.kind = failureClass === 'unsupported_language' ? 'unsupported' : 'invalid-input';
  }
}

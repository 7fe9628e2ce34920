/** Why a function could not be sliced. Stable strings: they appear in reports. */
export const SLICE_FAILURE_CLASSES = ['unsupported_language', 'parse_error', 'too_large', 'too_deep', 'timeout'] as const;
export type SliceFailureClass = (typeof SLICE_FAILURE_CLASSES)[number];

/** A classified failure: the record goes to the report, the batch goes on. */
export class SliceFailure extends Error {
  constructor(readonly failureClass: SliceFailureClass, message: string) {
    super(message);
    this.name = 'SliceFailure';
  }
}

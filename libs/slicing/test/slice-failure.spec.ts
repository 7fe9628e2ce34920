import { RescueError, classify } from '@rescue/domain';
import { SLICE_FAILURE_CLASSES, SliceFailure, isLasting } from '@rescue/slicing';

describe('SliceFailure', () => {
  it('is unsupported for a language without a grammar, transient for the wall-clock timeout and a failed pool thread, invalid input for every other class', () => {
    const kinds = Object.fromEntries(SLICE_FAILURE_CLASSES.map((c) => [c, new SliceFailure(c, 'x').kind]));
    expect(kinds).toEqual({
      unsupported_language: 'unsupported',
      parse_error: 'invalid-input',
      too_large: 'invalid-input',
      too_deep: 'invalid-input',
      too_complex: 'invalid-input',
      timeout: 'transient',
      worker_failed: 'transient',
    });
    for (const c of SLICE_FAILURE_CLASSES) expect(classify(new SliceFailure(c, 'x')).retryable).toBe(c === 'timeout' || c === 'worker_failed');
  });

  it('is lasting (a store may keep it) unless it is the wall-clock timeout or a failed pool thread, verdicts on one run', () => {
    expect(SLICE_FAILURE_CLASSES.filter((c) => !isLasting(c))).toEqual(['timeout', 'worker_failed']);
  });

  it('keeps its name, class and message', () => {
    const err = new SliceFailure('too_deep', 'syntax nesting deeper than 200 levels');
    expect(err).toBeInstanceOf(RescueError);
    expect([err.name, err.failureClass, err.message]).toEqual(['SliceFailure', 'too_deep', 'syntax nesting deeper than 200 levels']);
  });
});

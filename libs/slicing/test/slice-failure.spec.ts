import { RescueError, classify } from '@rescue/domain';
import { SLICE_FAILURE_CLASSES, SliceFailure } from '@rescue/slicing';

describe('SliceFailure', () => {
  it('is unsupported for a language without a grammar, invalid input for every other class; neither is retried', () => {
    const kinds = Object.fromEntries(SLICE_FAILURE_CLASSES.map((c) => [c, new SliceFailure(c, 'x').kind]));
    expect(kinds).toEqual({ unsupported_language: 'unsupported', parse_error: 'invalid-input', too_large: 'invalid-input', too_deep: 'invalid-input', timeout: 'invalid-input' });
    for (const c of SLICE_FAILURE_CLASSES) expect(classify(new SliceFailure(c, 'x')).retryable).toBe(false);
  });

  it('keeps its name, class and message', () => {
    const err = new SliceFailure('too_deep', 'syntax nesting deeper than 200 levels');
    expect(err).toBeInstanceOf(RescueError);
    expect([err.name, err.failureClass, err.message]).toEqual(['SliceFailure', 'too_deep', 'syntax nesting deeper than 200 levels']);
  });
});

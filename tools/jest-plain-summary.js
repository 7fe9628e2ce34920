// Prints the language-neutral closing line "N passed, N failed, N skipped" that CI reads. Jest's
// own summary reporter runs after custom reporters, so the line is written at process exit to
// make it the last one.
class PlainSummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `tests: ${results.numPassedTests} passed, ${failed} failed, ${skipped} skipped\n`;
    process.once('exit', () => process.stderr.write(line));
  }
}
module.exports = PlainSummaryReporter;

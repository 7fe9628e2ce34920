// Prints the language-neutral closing line "N passed, N failed, N skipped" that CI reads. Jest's
// own summary reporter runs after custom reporters, so the line is written at process exit to
// make it the last one.
const fs = require('node:fs');

class PlainSummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `tests: ${results.numPassedTests} passed, ${failed} failed, ${skipped} skipped\n`;
    // fs.writeSync, because jest's forceExit replaces stream.write with a no-op before exiting.
    process.once('exit', () => fs.writeSync(2, line));
  }
}
module.exports = PlainSummaryReporter;

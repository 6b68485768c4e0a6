/** Ends a jest run with one plain line, "Tests: N passed, N failed, N skipped", that CI reads. */
class SummaryReporter {
	onRunComplete(_contexts, results) {
		const skipped = results.numPendingTests + results.numTodoTests;
		process.stdout.write(
			`\nTests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped\n`
		);
	}
}
module.exports = SummaryReporter;

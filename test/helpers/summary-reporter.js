/**
 * Ends a jest run with one plain line that CI reads:
 * "Tests: N passed, N failed, N skipped; suites: N passed, N failed, N errored, N skipped".
 * An errored suite is one that could not run (it threw while loading, before any test).
 * With CI=true a skipped test or suite fails the run: CI must run everything.
 */
class SummaryReporter {
	onRunComplete(_contexts, results) {
		const suites = { passed: 0, failed: 0, errored: 0, skipped: 0 };
		const skippedNames = [];
		for (const suite of results.testResults) {
			if (suite.testExecError) suites.errored++;
			else if (suite.skipped) suites.skipped++;
			else if (suite.numFailingTests > 0) suites.failed++;
			else suites.passed++;
			for (const test of suite.testResults)
				if (test.status === "pending" || test.status === "todo" || test.status === "skipped") skippedNames.push(`${suite.testFilePath.replace(`${process.cwd()}/`, "")} › ${test.fullName}`);
		}
		const skippedTests = results.numPendingTests + results.numTodoTests;
		process.stdout.write(
			`\nTests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skippedTests} skipped; ` +
				`suites: ${suites.passed} passed, ${suites.failed} failed, ${suites.errored} errored, ${suites.skipped} skipped\n`
		);
		this.error = undefined;
		if (process.env.CI === "true" && (skippedTests > 0 || suites.skipped > 0)) {
			for (const name of skippedNames) process.stdout.write(`skipped: ${name}\n`);
			this.error = new Error(`CI=true: ${skippedTests} tests and ${suites.skipped} suites were skipped; in CI every test must run (a -t filter skips the tests it leaves out).`);
			process.stdout.write(`${this.error.message}\n`);
		}
	}

	/** Jest fails the run when a reporter has an error to give. */
	getLastError() {
		return this.error;
	}
}
module.exports = SummaryReporter;

/** @type {import("jest").Config} */
module.exports = {
	testEnvironment: "node",
	transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
	testMatch: ["<rootDir>/test/**/*.spec.ts"],
	testTimeout: 30000,
	reporters: ["default", "<rootDir>/test/helpers/summary-reporter.js"],
	// Integration suites share one PostgreSQL server; each file gets its own database.
	maxWorkers: 2
};

// Checks an OpenAPI document (JSON on stdin) with the tools a user's own tooling would run:
// the OpenAPI 3.1 schema validator (@seriousme/openapi-schema-validator) and Redocly's lint
// with its `recommended` rules. Prints { valid, validationErrors, lint: [{ severity, ruleId,
// message, pointer }] } as JSON. A script of its own because both packages are ES modules,
// which Jest's CommonJS runtime cannot load.
import { Buffer } from "node:buffer";
import { Validator } from "@seriousme/openapi-schema-validator";
import { createConfig, lintFromString } from "@redocly/openapi-core";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const source = Buffer.concat(chunks).toString("utf8");

const validation = await new Validator().validate(JSON.parse(source));
const config = await createConfig({ extends: ["recommended"] });
const problems = await lintFromString({ source, absoluteRef: "openapi.json", config });

process.stdout.write(
	JSON.stringify({
		valid: validation.valid,
		validationErrors: validation.valid ? [] : validation.errors,
		lint: problems.map(p => ({ severity: p.severity, ruleId: p.ruleId, message: p.message, pointer: p.location?.[0]?.pointer }))
	})
);

import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** Imports run one way: contracts, config <- lib <- mixins, middlewares <- services; a service never imports another's files. */
const noImportsOf = (...folders) => ({
	"no-restricted-imports": [
		"error",
		{ patterns: folders.map(folder => ({ group: [`**/${folder}/*`, `**/${folder}`], message: `this layer may not import ${folder}/ (see the README's Layout).` })) }
	]
});

const SERVICES = ["api", "audit", "inventory", "products", "purchases"];

/** A service reaches another by its actions and events, never by its files. */
const ownFilesOnly = service => ({
	files: [`services/${service}/**/*.ts`],
	rules: {
		"no-restricted-imports": [
			"error",
			{
				patterns: SERVICES.filter(other => other !== service).map(other => ({
					group: [`**/services/${other}/*`, `../${other}/*`, `../../${other}/*`],
					message: `services/${service} may not import the files of services/${other}: call its actions, read its events, or share through contracts/.`
				}))
			}
		]
	}
});

export default tseslint.config(
	{ ignores: ["node_modules/", "dist/", "coverage/", "data/"] },
	js.configs.recommended,
	...tseslint.configs.recommended,
	{
		languageOptions: { globals: { process: "readonly", console: "readonly", require: "readonly", module: "writable", __dirname: "readonly" } },
		rules: {
			"@typescript-eslint/no-explicit-any": "off",
			"@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
			"no-console": ["error", { allow: ["error"] }]
		}
	},
	{ files: ["config/**/*.ts"], rules: noImportsOf("contracts", "lib", "mixins", "middlewares", "services") },
	{ files: ["contracts/**/*.ts"], rules: noImportsOf("config", "lib", "mixins", "middlewares", "services") },
	{ files: ["lib/**/*.ts"], rules: noImportsOf("mixins", "middlewares", "services") },
	{ files: ["mixins/**/*.ts", "middlewares/**/*.ts"], rules: noImportsOf("services") },
	...SERVICES.map(ownFilesOnly)
);

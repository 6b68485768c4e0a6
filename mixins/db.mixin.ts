/**
 * The data layer of a service: moleculer-db with its Sequelize adapter on the service's own
 * PostgreSQL schema or SQLite file, its tables created and upgraded by versioned migrations
 * (in moleculer-db's `afterConnected`) before the service takes work.
 *
 * Two parts of moleculer-db are not used, on purpose:
 * - its CRUD actions: each service declares its own, so a change and its outbox event share
 *   one transaction (statements live in the service's repository, on `this.db`);
 * - its `created`, `started` and `stopped` hooks: they make one adapter per schema (two
 *   brokers in one process would share a connection) and retry any failure every second
 *   forever, a failing migration included. Here the adapter is made per service instance,
 *   only an unreachable database is waited for, and the service's parts start and stop in
 *   the lifecycle's order around the database (lib/lifecycle.ts).
 */
import DbService from "moleculer-db";
import SequelizeDbAdapter from "moleculer-db-adapter-sequelize";
import { DataTypes } from "sequelize";
import type { Service, ServiceSchema } from "moleculer";
import { appConfig } from "../config/broker-config";
import { openDatabase, type Database } from "../lib/database";
import { isDatabaseUnreachable } from "../lib/failures";
import { doublingDelay, sleep } from "../lib/resilience";
import { lifecycleOf } from "../lib/lifecycle";
import { migrate, type Migration } from "../lib/migrator";
import { defineMixin } from "../lib/schema";

export interface DbMixinOptions {
	/** Schema (PostgreSQL) or file suffix (SQLite); the service name when omitted. */
	schema?: string;
	migrations: Migration[];
	/** The service's main table and its key column: moleculer-db's entity. */
	table: string;
	key?: string;
}

export interface DbServiceThis {
	db: Database;
	clearCache(): Promise<void>;
	/** "up", or "down: why", for stores a service has besides its database. */
	checkOtherStores?(): Promise<string>;
}

type This = Service & DbServiceThis & { adapter: SequelizeDbAdapter; connect(): Promise<void>; disconnect(): Promise<void> };

const CRUD_ACTIONS_OFF = {
	find: false,
	count: false,
	list: false,
	create: false,
	insert: false,
	get: false,
	update: false,
	remove: false
};

const { created: _oneAdapterPerSchema, started: _retryAnyFailureForever, stopped: _closeOnly, ...moleculerDb } = DbService as unknown as ServiceSchema;

/** Typed for one argument, the adapter hands every argument to Sequelize's constructor and reads `noSync` in the fourth. */
const SequelizeAdapter = SequelizeDbAdapter as unknown as new (...args: unknown[]) => SequelizeDbAdapter;

export function createDbMixin(options: DbMixinOptions): Partial<ServiceSchema> {
	const key = options.key ?? "id";
	/** moleculer-db's own schema keys, which Moleculer's schema type does not know. */
	const moleculerDbKeys = {
		// The adapter asks for an entity; its columns are the migrations' to create, never synced.
		model: { name: options.table, define: { [key]: { type: DataTypes.STRING, primaryKey: true } }, options: { tableName: options.table, timestamps: false } },
		/** Called by moleculer-db's `connect` once the adapter has connected. */
		async afterConnected(this: This) {
			if (this.db.dialect === "sqlite") await this.db.sequelize.query("PRAGMA journal_mode=WAL");
			const { applied, current } = await migrate(this.db, options.migrations);
			for (const m of applied) this.logger.info(`Migration ${m.version} (${m.name}) applied.`);
			this.logger.info(`Database ${this.db.dialect}:${this.db.location} at schema version ${current}.`);
		}
	};
	const mixin = defineMixin<This>({
		mixins: [moleculerDb as Partial<ServiceSchema>],
		settings: { idField: key },
		actions: {
			...CRUD_ACTIONS_OFF,
			/** Readiness probe of this service's database. */
			checkDatabase: {
				visibility: "public",
				async handler(this: This) {
					await this.db.rows("SELECT 1 AS ok");
					// A service that keeps data elsewhere too (audit in Elasticsearch) reports it here.
					const other = (await this.checkOtherStores?.()) ?? "up";
					return { status: other, dialect: this.db.dialect, location: this.db.location };
				}
			}
		},

		created(this: This) {
			this.db = openDatabase(appConfig(this.broker).database, options.schema ?? this.name, this.logger);
			this.adapter = new SequelizeAdapter(this.db.sequelize, undefined, undefined, { noSync: true });
			this.adapter.init(this.broker, this);
		},

		async started(this: This) {
			for (let attempt = 0; ; attempt++) {
				try {
					await this.connect();
					break;
				} catch (err) {
					if (!isDatabaseUnreachable(err)) {
						await this.disconnect();
						throw err;
					}
					const delay = doublingDelay(attempt, 250, 5000);
					this.logger.warn(`The database cannot be reached (${(err as Error).message}); trying again in ${delay} ms.`);
					await sleep(delay);
				}
			}
			await lifecycleOf(this).start();
		},

		async stopped(this: This) {
			await lifecycleOf(this).stop();
			await this.db.drain();
			await this.disconnect();
		}
	});
	return Object.assign(mixin, moleculerDbKeys);
}

/**
 * The data layer of a service: moleculer-db over the Sequelize adapter, on the service's
 * own PostgreSQL schema or SQLite file, with its tables created and upgraded by
 * versioned migrations before the service takes work.
 *
 * moleculer-db's generic CRUD actions are switched off: each service declares its own
 * actions, so the change and its outbox event can share one transaction.
 */
import DbService from "moleculer-db";
import SequelizeDbAdapter from "moleculer-db-adapter-sequelize";
import type { ModelStatic, Sequelize, Model } from "sequelize";
import type { Service, ServiceBroker, ServiceSchema } from "moleculer";
import { appConfig } from "../config/broker-config";
import { openDatabase, type Database } from "../lib/database";
import { migrate, type Migration } from "../lib/migrator";
import { defineMixin } from "../lib/schema";

export interface DbMixinOptions {
	/** Schema (PostgreSQL) or file suffix (SQLite); the service name when omitted. */
	schema?: string;
	migrations: Migration[];
	/** Defines the service's models; `entity` is the one moleculer-db works with. */
	models(sequelize: Sequelize): { entity: ModelStatic<Model> } & Record<string, ModelStatic<Model>>;
}

export interface DbServiceThis {
	db: Database;
	models: Record<string, ModelStatic<Model>>;
	/** Resolves once the database is migrated and the models are defined. */
	databaseReady: Promise<void>;
	/** Set once the service has closed its database while stopping. */
	databaseClosed?: boolean;
	/** Work to finish while the database is still open (the outbox flush), whatever the mixin order. */
	beforeDatabaseClose: (() => Promise<void>)[];
	clearCache(): Promise<void>;
	/** "up", or "down: why", for stores a service has besides its database. */
	checkOtherStores?(): Promise<string>;
}

class MigratingSequelizeAdapter extends SequelizeDbAdapter {
	declare broker: ServiceBroker;
	declare service: Service & DbServiceThis & { markDatabaseReady(): void };
	declare db: Sequelize;
	declare model: ModelStatic<Model>;

	constructor(private readonly options: DbMixinOptions) {
		super({});
	}

	/** The models come from `options.models` at connect time, not from a `model` in the schema. */
	override init(broker: ServiceBroker, service: Service): void {
		this.broker = broker;
		this.service = service as MigratingSequelizeAdapter["service"];
	}

	override async connect(): Promise<void> {
		const service = this.service;
		const database = openDatabase(appConfig(this.broker).database, this.options.schema ?? service.name, service.logger);
		try {
			await database.sequelize.authenticate();
			if (database.dialect === "sqlite") await database.sequelize.query("PRAGMA journal_mode=WAL");
			const { applied, current } = await migrate(database, this.options.migrations);
			for (const m of applied) service.logger.info(`Migration ${m.version} (${m.name}) applied.`);
			service.logger.info(`Database ${database.dialect}:${database.location} at schema version ${current}.`);
		} catch (err) {
			await database.close();
			throw err;
		}
		const models = this.options.models(database.sequelize);
		this.db = database.sequelize;
		this.model = models.entity;
		service.db = database;
		service.models = models;
		(service as unknown as { model: unknown }).model = models.entity;
		service.markDatabaseReady();
	}

	override async disconnect(): Promise<void> {
		for (const work of this.service.beforeDatabaseClose) await work();
		this.service.databaseClosed = true;
		await this.service.db?.close();
	}
}

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

export function createDbMixin(options: DbMixinOptions): Partial<ServiceSchema> {
	return defineMixin<Service & DbServiceThis & { markDatabaseReady(): void }>({
		mixins: [DbService as unknown as Partial<ServiceSchema>],
		settings: { idField: "id" },
		actions: {
			...CRUD_ACTIONS_OFF,
			/** Readiness probe of this service's database. */
			checkDatabase: {
				visibility: "public",
				async handler(this: Service & DbServiceThis) {
					if (!this.db) return { status: "down", detail: "not connected" };
					await this.db.rows("SELECT 1 AS ok");
					// A service that keeps data elsewhere too (audit in Elasticsearch) reports it here.
					const other = (await this.checkOtherStores?.()) ?? "up";
					return { status: other, dialect: this.db.dialect, location: this.db.location };
				}
			}
		},
		created(this: Service & DbServiceThis & { markDatabaseReady(): void }) {
			this.beforeDatabaseClose ??= [];
			this.databaseReady = new Promise<void>(resolve => {
				this.markDatabaseReady = resolve;
			});
			// One adapter per service instance (not per schema), so two brokers in one
			// process never share a connection.
			const adapter = new MigratingSequelizeAdapter(options);
			(this as unknown as { adapter: SequelizeDbAdapter }).adapter = adapter;
			adapter.init(this.broker, this);
		}
	});
}

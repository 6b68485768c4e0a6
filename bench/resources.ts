/**
 * What the bench creates outside its processes, and removes again whatever happens:
 * a temporary directory (SQLite files, logs), PostgreSQL databases named `bench_*`, and
 * the Redis keys of its namespace. Only what this run created is ever removed.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import Redis from "ioredis";

const TOO_MANY_CONNECTIONS = "53300";

/**
 * A connected PostgreSQL client. The engine is shared with other users and its
 * connection slots sometimes run out for a moment: that is waited out (about 15 s), not fatal.
 */
export async function connectPostgres(connectionString: string): Promise<Client> {
	for (let attempt = 1; ; attempt++) {
		const client = new Client({ connectionString });
		try {
			await client.connect();
			return client;
		} catch (err) {
			await client.end().catch(() => undefined);
			if ((err as { code?: string }).code !== TOO_MANY_CONNECTIONS || attempt >= 30) throw err;
			await new Promise(resolve => setTimeout(resolve, 500));
		}
	}
}

export class Resources {
	readonly runId = randomBytes(4).toString("hex");
	readonly dir = mkdtempSync(join(tmpdir(), "product-inventory-bench-"));
	readonly dataDir = join(this.dir, "data");
	readonly logDir = join(this.dir, "logs");
	private readonly databases: string[] = [];
	private readonly namespaces: string[] = [];
	/** Set when cleanup starts: nothing new is created after that. */
	private closed = false;

	constructor(
		private readonly postgresUrl: string,
		private readonly redisUrl: string
	) {
		mkdirSync(this.dataDir);
		mkdirSync(this.logDir);
	}

	/** A namespace no other cluster on the shared NATS uses; its Redis keys are removed at the end. */
	namespace(label: string): string {
		const namespace = `bench-${this.runId}-${label}`;
		this.namespaces.push(namespace);
		return namespace;
	}

	/** A new, empty PostgreSQL database; returns its URL. */
	async createDatabase(label: string): Promise<string> {
		const name = `bench_${this.runId}_${label}`;
		if (this.closed) throw new Error("the bench is stopping");
		this.databases.push(name);
		await this.admin(client => client.query(`CREATE DATABASE "${name}"`));
		// Cleanup may have run while the database was being created: drop it here then.
		if (this.closed) {
			await this.admin(client => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
			throw new Error("the bench is stopping");
		}
		const url = new URL(this.postgresUrl);
		url.pathname = `/${name}`;
		return url.toString();
	}

	private async admin<T>(work: (client: Client) => Promise<T>): Promise<T> {
		const client = await connectPostgres(this.postgresUrl);
		try {
			return await work(client);
		} finally {
			await client.end();
		}
	}

	/** Drops the databases, the Redis keys and the temporary files; `keepLogs` keeps the logs for a post-mortem. */
	async cleanup(keepLogs: boolean): Promise<string[]> {
		this.closed = true;
		const problems: string[] = [];
		for (const name of this.databases.splice(0)) {
			try {
				await this.admin(client => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
			} catch (err) {
				problems.push(`database ${name} not dropped: ${(err as Error).message}`);
			}
		}
		if (this.namespaces.length > 0) {
			try {
				await this.removeRedisKeys(this.namespaces.splice(0));
			} catch (err) {
				problems.push(`Redis keys not removed: ${(err as Error).message}`);
			}
		}
		rmSync(this.dataDir, { recursive: true, force: true });
		if (!keepLogs) rmSync(this.dir, { recursive: true, force: true });
		return problems;
	}

	/** Keys of Moleculer's Redis cacher (`MOL-<namespace>-…`), of the cache versions and of the rate limiter. */
	private async removeRedisKeys(namespaces: string[]): Promise<void> {
		const redis = new Redis(this.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
		await redis.connect();
		try {
			for (const namespace of namespaces)
				for (const match of [`MOL-${namespace}-*`, `pi-cache-version:${namespace}:*`, `pi-ratelimit:${namespace}:*`]) {
					let cursor = "0";
					do {
						const [next, keys] = await redis.scan(cursor, "MATCH", match, "COUNT", 1000);
						if (keys.length > 0) await redis.del(...keys);
						cursor = next;
					} while (cursor !== "0");
				}
		} finally {
			redis.disconnect();
		}
	}
}

/** The Redis connection options and the Lua scripts that check a version and write in one step. */
import type { Redis, RedisOptions } from "ioredis";

/** ioredis options from a redis:// URL that fail fast instead of queueing while Redis is away. */
export function redisOptions(url: string): RedisOptions {
	const parsed = new URL(url);
	return {
		host: parsed.hostname,
		port: Number(parsed.port || 6379),
		username: parsed.username || undefined,
		password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
		db: parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0,
		tls: parsed.protocol === "rediss:" ? {} : undefined,
		enableOfflineQueue: false,
		maxRetriesPerRequest: 0,
		commandTimeout: 1000,
		connectTimeout: 2000,
		retryStrategy: times => Math.min(times * 200, 2000),
		enableAutoPipelining: true
	};
}

/** KEYS: service version, cache key. ARGV: the version seen at the miss, data, ttl (0: none). */
export const FILL_IF_VERSION = `
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[3]) > 0 then redis.call("SET", KEYS[2], ARGV[2], "EX", ARGV[3]) else redis.call("SET", KEYS[2], ARGV[2]) end
return 1`;

/**
 * KEYS: service version, cache key, the key's retirement. ARGV: a new service version,
 * data, ttl (0: none), the record's version. It reads the held record's version with
 * cjson: the cacher keeps its default JSON serializer.
 */
export const WRITE_IF_NEWER = `
redis.call("SET", KEYS[1], ARGV[1])
local retired = redis.call("GET", KEYS[3])
if retired and tonumber(retired) >= tonumber(ARGV[4]) then return 0 end
local held = redis.call("GET", KEYS[2])
if held then
  local ok, value = pcall(cjson.decode, held)
  if ok and type(value) == "table" and type(value.version) == "number" and value.version >= tonumber(ARGV[4]) then return 0 end
end
if tonumber(ARGV[3]) > 0 then redis.call("SET", KEYS[2], ARGV[2], "EX", ARGV[3]) else redis.call("SET", KEYS[2], ARGV[2]) end
return 1`;

/** KEYS: service version, cache key, the key's retirement. ARGV: a new service version, the last version, ttl. */
export const RETIRE = `
redis.call("SET", KEYS[1], ARGV[1])
redis.call("SET", KEYS[3], ARGV[2], "EX", ARGV[3])
redis.call("DEL", KEYS[2])
return 1`;

type Arg = string | number | Buffer;
export interface CacheClient extends Redis {
	fillIfVersion(versionKey: string, key: string, seen: string, data: Arg, ttl: number): Promise<number>;
	writeIfNewer(versionKey: string, key: string, retiredKey: string, newVersion: string, data: Arg, ttl: number, recordVersion: number): Promise<number>;
	retireKey(versionKey: string, key: string, retiredKey: string, newVersion: string, version: number, ttl: number): Promise<number>;
}

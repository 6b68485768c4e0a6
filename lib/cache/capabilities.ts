/** What a broker's cacher can do, for code that must not depend on which cacher it is. */
import type { Redis } from "ioredis";
import { PolicyMemoryCacher } from "./memory-cacher";
import { ResilientRedisCacher } from "./redis-cacher";

/** Whether the cache is a copy per node (Memory): other nodes must be told to clean theirs after a change. */
export function keptPerNode(cacher: unknown): cacher is PolicyMemoryCacher {
	return cacher instanceof PolicyMemoryCacher;
}

/** The Redis connection the cache shares across nodes; undefined when the cache is per node or off. */
export function sharedRedis(cacher: unknown): Redis | undefined {
	return cacher instanceof ResilientRedisCacher ? cacher.client : undefined;
}

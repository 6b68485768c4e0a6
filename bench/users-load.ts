/**
 * Scenario (u)'s load: many users on keep-alive connections, each thinking about a second
 * between requests, sent by one wrk process whose threads each hold one gateway's
 * connections. The Lua builds a Zipf mix of reads and a small share of purchases (each with
 * its own Idempotency-Key, one unit of a pool product), holds every connection idle until a
 * start time so no request is timed while connections are still opening, stops purchasing
 * shortly before the end so every purchase is answered, and counts the 201s per product for
 * the oversell check.
 */
import type { LoadResult } from "./load";
import { SUMMARY_LUA, headerOptions, loadResultOf, startWrk, type RunningWrk } from "./wrk";

export interface UsersPlan {
	/** One base URL per gateway; each gets one wrk thread and `connectionsPerTarget` connections. */
	targets: string[];
	connectionsPerTarget: number;
	headers: Record<string, string>;
	/** GET paths sent in turn (a drawn mix). */
	paths: string[];
	/** Think time between a connection's answer and its next request, drawn uniformly; absent for a closed loop. */
	thinkMs?: { min: number; max: number };
	/** Connections are opened at once and send nothing until this long after the start. */
	holdMs: number;
	/** Requests are sent for this long after the hold. */
	activeSeconds: number;
	/**
	 * A share of requests that are purchases, from `pool`; none when the pool is empty. Keys
	 * are `keyPrefix`, the run's start time, the thread and a counter.
	 */
	purchases: { pool: string[]; share: number; customerId: string; keyPrefix: string; stopBeforeEndSeconds: number };
	openFiles: number;
	/** Epoch milliseconds the run starts at (Date.now() unless a test fixes it). */
	startedAt?: number;
}

/** The figures of one run, over the time requests were sent. */
export interface UsersResult {
	load: LoadResult;
	/** Answers by status, counted by the script (wrk itself only counts those of 400 and above). */
	statuses: Record<string, number>;
	/** Per pool product (same order as the plan's pool): purchases sent and answered 201. */
	purchasesSent: number[];
	purchasesCreated: number[];
	/** wrk's errors by kind. */
	socketErrors: { connect: number; read: number; write: number; timeout: number };
	/** Percent of one core wrk used over its whole run (hold included). */
	generatorCpu: number;
}

export interface UsersTimes {
	startedAt: number;
	/** When the first requests go out (the hold ends). */
	sendingAt: number;
	/** When purchases stop. */
	purchasesUntil: number;
	endsAt: number;
}

/** When each phase of a run begins, in epoch milliseconds. */
export function usersTimes(plan: UsersPlan, startedAt: number): UsersTimes {
	const sendingAt = startedAt + plan.holdMs;
	const endsAt = sendingAt + plan.activeSeconds * 1000;
	return { startedAt, sendingAt, purchasesUntil: endsAt - plan.purchases.stopBeforeEndSeconds * 1000, endsAt };
}

const luaString = (text: string) => JSON.stringify(text);

/**
 * The Lua of a run. The first wait of a connection ends at the send time plus up to one
 * mean think time, so the connections do not start in step; after that a closed loop asks
 * again at once, a paced one after a uniform think time.
 */
export function usersScript(plan: UsersPlan, times: UsersTimes): string {
	const think = plan.thinkMs;
	const targets = plan.targets.map(t => {
		const url = new URL(t);
		return `{ ${luaString(url.hostname)}, ${luaString(url.port)} }`;
	});
	const firstSpread = think ? Math.round((think.min + think.max) / 2) : 100;
	return (
		SUMMARY_LUA +
		String.raw`
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *tp);
]]
local now_ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(0, now_ts)
  return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
end

local TARGETS = { ${targets.join(", ")} }
local SENDING_AT = ${times.sendingAt}
local FIRST_SPREAD_MS = ${firstSpread}
local PURCHASES_UNTIL = ${times.purchasesUntil}
local PURCHASE_SHARE = ${plan.purchases.pool.length > 0 ? plan.purchases.share : 0}
local CUSTOMER = ${luaString(JSON.stringify(plan.purchases.customerId))}
-- Keys are unique across runs too: the same key with another body would be refused.
local KEY_PREFIX = ${luaString(`${plan.purchases.keyPrefix}-${times.startedAt}`)}
-- done() runs in wrk's main Lua state, which has not read the pool file.
local POOL_SIZE = ${plan.purchases.pool.length}

local threads = {}
function setup(thread)
  local n = #threads + 1
  local target = TARGETS[(n - 1) % #TARGETS + 1]
  thread.addr = wrk.lookup(target[1], target[2])[1]
  thread:set("id", n)
  threads[n] = thread
end

local paths, pool, pool_index = {}, {}, {}
local next_path, keys = 0, 0
local dry_run = false
function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  for line in io.lines(args[2]) do
    if line ~= "" then
      pool[#pool + 1] = line
      pool_index[line] = #pool
    end
  end
  math.randomseed(id * 7919 + math.floor(now_ms()) % 100000)
  next_path = (id * 7919) % #paths
  sent, created, statuses = {}, {}, {}
  for k = 1, #pool do sent[k] = 0; created[k] = 0 end
  -- wrk calls the first thread's request() once after init to check what it builds, and
  -- never sends that one: it gets a read, so no purchase is counted that was not sent.
  dry_run = id == 1
end

function request()
  if dry_run then
    dry_run = false
    return wrk.format(nil, paths[1])
  end
  if PURCHASE_SHARE > 0 and math.random() < PURCHASE_SHARE and now_ms() < PURCHASES_UNTIL then
    local k = math.random(#pool)
    sent[k] = sent[k] + 1
    keys = keys + 1
    local headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    headers["Idempotency-Key"] = KEY_PREFIX .. "-" .. id .. "-" .. keys
    headers["Content-Type"] = "application/json"
    local body = '{"items":[{"productId":"' .. pool[k] .. '","quantity":1}],"customerId":' .. CUSTOMER .. '}'
    return wrk.format("POST", "/api/v1/purchases", headers, body)
  end
  next_path = next_path % #paths + 1
  return wrk.format(nil, paths[next_path])
end

function delay()
  local wait = SENDING_AT - now_ms()
  if wait > 0 then return math.floor(wait + math.random() * FIRST_SPREAD_MS) end
${think ? `  return math.random(${think.min}, ${think.max})` : "  return 0"}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 then
    local k = pool_index[body:match('"productId":"([^"]+)"') or ""]
    if k then created[k] = created[k] + 1 end
  end
end

local function json_array(values)
  local parts = {}
  for k = 1, POOL_SIZE do parts[k] = tostring(values[k] or 0) end
  return "[" .. table.concat(parts, ",") .. "]"
end

function done(summary, latency, requests)
  write_summary(summary, latency)
  local sent_all, created_all, status_all = {}, {}, {}
  for _, thread in ipairs(threads) do
    local s, c, st = thread:get("sent"), thread:get("created"), thread:get("statuses")
    for k = 1, POOL_SIZE do
      sent_all[k] = (sent_all[k] or 0) + (s[k] or 0)
      created_all[k] = (created_all[k] or 0) + (c[k] or 0)
    end
    for status, n in pairs(st) do status_all[status] = (status_all[status] or 0) + n end
  end
  local codes = {}
  for status, n in pairs(status_all) do codes[#codes + 1] = '"' .. status .. '":' .. n end
  io.write('WRK_USERS {"sent":' .. json_array(sent_all) .. ',"created":' .. json_array(created_all) .. ',"statuses":{' .. table.concat(codes, ",") .. '}}\n')
end
`
	);
}

/** wrk's options for a run: a thread per gateway, every connection, the whole run, and a timeout beyond any action's own (10 s). */
export function usersOptions(plan: UsersPlan): string[] {
	const seconds = Math.ceil(plan.holdMs / 1000 + plan.activeSeconds);
	return [`-t${plan.targets.length}`, `-c${plan.targets.length * plan.connectionsPerTarget}`, `-d${seconds}s`, "--timeout", "15s", ...headerOptions(plan.headers)];
}

export interface RunningUsers extends UsersTimes {
	pid: number;
	finished: Promise<UsersResult>;
	kill(): void;
}

/** Starts a run; the caller can watch the gateways while it goes (times say when each phase begins). */
export function startUsers(plan: UsersPlan): RunningUsers {
	const startedAt = plan.startedAt ?? Date.now();
	const times = usersTimes(plan, startedAt);
	const wrk: RunningWrk = startWrk({
		script: usersScript(plan, times),
		options: usersOptions(plan),
		url: plan.targets[0] + "/",
		files: [
			["paths.txt", plan.paths.join("\n") + "\n"],
			["pool.txt", plan.purchases.pool.join("\n") + "\n"]
		],
		openFiles: plan.openFiles
	});
	const finished = wrk.finished.then(({ summary, output, cpuSeconds, seconds }): UsersResult => {
		const line = output.split("\n").find(l => l.startsWith("WRK_USERS "));
		if (!line) throw new Error(`wrk printed no purchase counts: ${output.trim().slice(-300)}`);
		const counts = JSON.parse(line.slice("WRK_USERS ".length)) as { sent: number[]; created: number[]; statuses: Record<string, number> };
		// wrk's duration counts the hold, when nothing was sent.
		const active = Math.max(0.001, summary.duration_us / 1e6 - plan.holdMs / 1000);
		const load = loadResultOf(summary, active);
		load.statusCodes = counts.statuses;
		load.non2xx = Object.entries(counts.statuses).reduce((n, [status, count]) => (status.startsWith("2") ? n : n + count), 0);
		return {
			load,
			statuses: counts.statuses,
			purchasesSent: counts.sent,
			purchasesCreated: counts.created,
			socketErrors: { connect: summary.connect, read: summary.read, write: summary.write, timeout: summary.timeout },
			generatorCpu: Math.round((cpuSeconds / seconds) * 1000) / 10
		};
	});
	return { ...times, pid: wrk.pid, finished, kill: wrk.kill };
}

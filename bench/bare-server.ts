/**
 * The baseline: a bare node:http server answering every request with one fixed JSON body
 * (BENCH_BODY, the product JSON the scenarios read), on PORT. What this machine and this
 * load generator manage with no framework, no broker and no cache in the way.
 */
import { createServer } from "node:http";

const body = Buffer.from(process.env.BENCH_BODY ?? "{}");
const ready = Buffer.from('{"status":"ready"}');

const server = createServer((req, res) => {
	const payload = req.url === "/health/ready" ? ready : body;
	res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": payload.length });
	res.end(payload);
});

server.listen(Number(process.env.PORT ?? 0), "127.0.0.1");

for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => server.close(() => process.exit(0)));

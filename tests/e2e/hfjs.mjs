// hfjs.mjs - drives the real Hugging Face JS client (npm @huggingface/hub,
// installed by tests/e2e/gateway_test.py into build/node/hfhub) for the
// gateway's end-to-end tests: one command given as JSON in argv[2], one JSON
// line on stdout.
//
//   {"op":"snapshot","repo":"ns/name","type":"model|dataset|space","revision":R,
//    "hubUrl":U,"cacheDir":D,"accessToken":T}        snapshotDownload
//   {"op":"file","repo":..,"type":..,"path":P,"revision":R,"hubUrl":U,
//    "accessToken":T,"out":FILE}                      downloadFile, bytes to FILE
//   {"op":"many","n":N, ...snapshot fields}           N snapshotDownloads at once,
//                                                     into cacheDir/0 .. cacheDir/N-1
// Answers {"ok":true,"path":...} (file: path null when the file does not
// exist, as downloadFile returns null), or {"ok":false,"name":..,"message":..,
// "statusCode":..,"data":..} with the client's error; "many" answers
// {"ok":all ok,"results":[one answer per client]}.
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFile } from "node:fs/promises";

const here = dirname(fileURLToPath(import.meta.url));
const nodeDir = process.env.HFHUB_DIR || resolve(here, "../../build/node/hfhub");
const hub = createRequire(join(nodeDir, "package.json"))("@huggingface/hub");

console.debug = () => {}; // the library reports every download on console.debug

function repoOf(cmd) {
	return { type: cmd.type || "model", name: cmd.repo };
}

function failure(e) {
	if (!(e instanceof Error)) {
		return { ok: false, name: typeof e, message: String(e) }; // a stream aborted with a string
	}
	return {
		ok: false,
		name: e.name,
		message: e.message,
		statusCode: e.statusCode,
		data: e.data,
		cause: e.cause ? String(e.cause.code || e.cause.message || e.cause) : undefined,
	};
}

async function snapshot(cmd, cacheDir) {
	try {
		const path = await hub.snapshotDownload({
			repo: repoOf(cmd),
			revision: cmd.revision,
			hubUrl: cmd.hubUrl,
			cacheDir: cacheDir,
			accessToken: cmd.accessToken,
		});
		return { ok: true, path };
	} catch (e) {
		return failure(e);
	}
}

async function file(cmd) {
	try {
		const blob = await hub.downloadFile({
			repo: repoOf(cmd),
			path: cmd.path,
			revision: cmd.revision,
			hubUrl: cmd.hubUrl,
			accessToken: cmd.accessToken,
		});
		if (!blob) {
			return { ok: true, path: null };
		}
		const bytes = Buffer.from(await blob.arrayBuffer());
		await writeFile(cmd.out, bytes);
		return { ok: true, path: cmd.out, size: bytes.length };
	} catch (e) {
		return failure(e);
	}
}

async function many(cmd) {
	const n = Math.min(Math.max(cmd.n | 0, 1), 200);
	const runs = [];
	for (let i = 0; i < n; i++) {
		runs.push(snapshot(cmd, join(cmd.cacheDir, String(i))));
	}
	const results = await Promise.all(runs);
	return { ok: results.every((r) => r.ok), results };
}

const cmd = JSON.parse(process.argv[2] || "{}");
const ops = { snapshot: (c) => snapshot(c, c.cacheDir), file, many };
const run = ops[cmd.op];
const answer = run ? await run(cmd) : { ok: false, name: "Usage", message: "unknown op " + cmd.op };
process.stdout.write(JSON.stringify(answer) + "\n");

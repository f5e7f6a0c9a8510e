// ui_browser.mjs CONFIG.json - the dashboard scenario of issue 8 in a real
// headless Chromium (Debian's), driven by npm playwright-core. Started by
// tests/e2e/ui_test.py, which runs the service, seeds it with real scans and
// writes CONFIG (base URL, tokens, the seeded scans, the gateway decisions it
// caused, the payload strings).
// Prints one "ok NAME" or "FAIL NAME DETAIL" line per check and "driver done"
// at the end; ui_test.py counts them. Hooks are the data-testid names of the
// dashboard contract. The page's own window is watched for a script run by
// hostile data: window.__xss must stay undefined, no inline script or event
// handler attribute may appear in the DOM, no CSP violation may be reported.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const { chromium } = await import(cfg.playwright);
const POLICY_NAME = "Detected No Arbitrary Code Execution At Model Load Time";
const LICENSE_POLICY = "License Is Valid For Use";
const T = (id) => `[data-testid="${id}"]`;

function check(name, cond, detail = "") {
	const d = typeof detail === "string" ? detail : JSON.stringify(detail);
	console.log(cond ? `ok ${name}` : `FAIL ${name} ${d.slice(0, 1500)}`);
	return cond;
}

// One part of the scenario; an exception (a hook that never appears) fails it
// and the scenario goes on with the next part. A part marked `needed` (the
// sign-in form, the admin's sign-in) stops the scenario when it fails: every
// later part would only wait for its hooks in vain.
let stopped = "";
async function step(name, fn, needed = false) {
	if (stopped) {
		check(`${name}: skipped`, false, `${stopped} failed`);
		return;
	}
	try {
		await fn();
	} catch (e) {
		check(`${name}: did not complete`, false, String(e && e.message).split("\n").slice(0, 3).join(" | "));
		if (needed) stopped = name;
	}
}

const browser = await chromium.launch({
	executablePath: cfg.chromium,
	args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const context = await browser.newContext({ viewport: { width: 1366, height: 800 } });
context.setDefaultTimeout(10000);
// CSP violations are counted in the page (a payload that reached the DOM as
// HTML shows up here even when the CSP stopped it)
await context.addInitScript(() => {
	window.__mgCsp = [];
	document.addEventListener("securitypolicyviolation", (e) =>
		window.__mgCsp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`),
	);
});
const page = await context.newPage();
const dialogs = [];
const pageErrors = [];
const cspConsole = [];
const external = [];
page.on("dialog", (d) => {
	dialogs.push(d.message());
	d.dismiss().catch(() => {});
});
page.on("pageerror", (e) => pageErrors.push(e.message));
page.on("console", (m) => {
	if (m.type() === "error" && /Content Security Policy/i.test(m.text())) cspConsole.push(m.text());
});
page.on("request", (r) => {
	const u = r.url();
	if (!u.startsWith(cfg.base + "/") && !u.startsWith("data:")) external.push(u);
});

const hash = () => page.evaluate(() => location.hash);
const go = (h) => page.evaluate((x) => (location.hash = x), h);
const text = (sel) => page.evaluate((s) => [...document.querySelectorAll(s)].map((e) => e.textContent).join("\n"), sel);
const count = (sel) => page.locator(sel).count();
// from the top: a sticky bar would otherwise sit where the last click scrolled to
async function shot(name) {
	await page.evaluate(() => window.scrollTo(0, 0));
	await page.screenshot({ path: join(cfg.shots, `${name}.png`), fullPage: true });
}
// every form control has a label (a <label>, aria-label or aria-labelledby)
async function unlabeled() {
	return page.evaluate(() =>
		[...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
			.filter((e) => !e.labels?.length && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby"))
			.map((e) => e.outerHTML.slice(0, 120)),
	);
}
async function waitHash(h, timeout = 10000) {
	await page.waitForFunction((x) => location.hash === x, h, { timeout });
}
// some element matching sel has textContent containing every string of want
async function waitText(sel, want, timeout = 10000) {
	await page.waitForFunction(
		([s, w]) => [...document.querySelectorAll(s)].some((e) => w.every((x) => e.textContent.includes(x))),
		[sel, [].concat(want)],
		{ timeout },
	);
}
// the scan page of uuid has rendered (its raw JSON link names it)
async function openScan(uuid) {
	await go(`#/scans/${uuid}`);
	await page.waitForSelector(`${T("download-json")}[href*="${uuid}"]`);
	await page.waitForSelector(T("scan-outcome"));
}
// nothing that came from the API ran as code on this page
async function noScript(where) {
	const r = await page.evaluate(() => ({
		xss: typeof window.__xss,
		inline: [...document.querySelectorAll("script")].filter((s) => !s.src).length,
		handlers: [...document.querySelectorAll("*")]
			.filter((e) => [...e.attributes].some((a) => a.name.startsWith("on")))
			.map((e) => e.outerHTML.slice(0, 120)),
		csp: window.__mgCsp.splice(0), // this page's own: taken out
	}));
	check(
		`${where}: no script ran (window.__xss undefined, no inline script or on* attribute, no CSP violation)`,
		r.xss === "undefined" && r.inline === 0 && r.handlers.length === 0 && r.csp.length === 0,
		r,
	);
}
async function sessionCookie() {
	return (await context.cookies()).find((c) => c.name === "mg_session" && c.value !== "");
}
// lands on `landing`, or anywhere but #/signin when null (the page asked for
// before the sign-in, say); with `keyboard` typed and sent with Enter
async function signIn(token, role, landing, keyboard = false) {
	if (keyboard) {
		await page.focus(T("signin-token"));
		await page.keyboard.type(token);
		await page.keyboard.press("Enter");
	} else {
		await page.fill(T("signin-token"), token);
		await page.click(T("signin-submit"));
	}
	if (landing) await waitHash(landing);
	else await page.waitForFunction(() => location.hash !== "#/signin" && location.hash !== "");
	await page.waitForFunction((r) => (document.querySelector("nav") || {}).textContent?.includes(r), role);
}
// a request from the page itself, with its cookie; [status, body text, headers]
async function inPage(method, path, { headers = {}, body } = {}) {
	return page.evaluate(
		async ([m, p, h, b]) => {
			const r = await fetch(p, { method: m, headers: h, body: b });
			return [r.status, await r.text(), Object.fromEntries(r.headers.entries())];
		},
		[method, path, headers, body],
	);
}

await step("sign-in page", async () => {
	const resp = await page.goto(cfg.base + "/");
	const h = resp.headers();
	check("the page answer carries the contract's CSP", h["content-security-policy"] === cfg.csp, h);
	check(
		"the page answer carries nosniff, no-referrer and X-Frame-Options DENY",
		h["x-content-type-options"] === "nosniff" &&
			h["referrer-policy"] === "no-referrer" &&
			h["x-frame-options"] === "DENY",
		h,
	);
	await page.waitForSelector(T("signin-token"));
	check("signed out, / shows the sign-in form at #/signin", (await hash()) === "#/signin", await hash());
	const bare = await unlabeled();
	check("the sign-in form's fields have labels", bare.length === 0, bare);
	await shot("signin");
}, true);

await step("wrong token", async () => {
	await page.fill(T("signin-token"), "mg_" + "0".repeat(64));
	await page.click(T("signin-submit"));
	await page.waitForSelector(`${T("error-banner")}:visible, ${T("field-error")}:visible`);
	check("a wrong token is refused with an error shown, still on #/signin", (await hash()) === "#/signin", await hash());
	check("a wrong token sets no session cookie", !(await sessionCookie()));
});

await step("admin sign-in", async () => {
	await signIn(cfg.admin, "admin", "#/overview");
	check("admin signs in through the form and lands on #/overview; the nav shows the role", true);
	const c = await sessionCookie();
	const dc = await page.evaluate(() => document.cookie);
	check("the session cookie is HttpOnly: document.cookie does not show it", !!c && !dc.includes("mg_session"), dc);
	check(
		"the session cookie: HttpOnly, SameSite=Strict, Path=/, about 12 h, 64 hex",
		!!c && c.httpOnly && c.sameSite === "Strict" && c.path === "/" && /^[0-9a-f]{64}$/.test(c.value) &&
			Math.abs(c.expires - (Date.now() / 1000 + 43200)) < 120,
		c,
	);
}, true);

await step("overview", async () => {
	await waitText("body", ["tampered-model", "BLOCKED"]);
	const t = await text("body");
	check("overview shows a BLOCKED model with the policy that blocked it", t.includes(POLICY_NAME), t.slice(0, 600));
	check("overview shows the rules version and the queue", t.includes(cfg.rulesVersion) && /queue/i.test(t),
		cfg.rulesVersion);
	await shot("overview");
	await noScript("overview");
});

await step("scans list", async () => {
	await page.click(T("nav-scans"));
	await page.waitForFunction((h) => location.hash.startsWith(h), "#/scans");
	await waitText(T("scan-row"), [cfg.xssDir]);
	check("the scans list has a row per seeded scan", (await count(T("scan-row"))) >= 4, await count(T("scan-row")));
	const rows = await text(T("scan-row"));
	check(
		"the hostile model's row shows the payloads as text (textContent has <script> and <img onerror>)",
		rows.includes("<script>window.__xss=1") && rows.includes(cfg.img),
		rows.slice(0, 800),
	);
	const bare = await unlabeled();
	check("the scans filters have labels", bare.length === 0, bare);
	await shot("scans");
	await noScript("scans list");
	await go("#/scans?outcome=ALLOWED");
	await page.waitForFunction(
		(sel) => {
			const r = [...document.querySelectorAll(sel)];
			return r.length > 0 && r.every((e) => e.textContent.includes("ALLOWED") && !e.textContent.includes("BLOCKED"));
		},
		T("scan-row"),
	);
	const allowed = await page.locator(T("scan-row")).evaluateAll((rs) => rs.map((r) => r.textContent));
	const [, gwName] = cfg.gateway.clean.split("/");
	check(
		"#/scans?outcome=ALLOWED lists only the ALLOWED scans: the clean model's and the gateway's clean repo's (one)",
		allowed.length === cfg.clean.allowed &&
			allowed.every((r) => r.includes("clean-model") || r.includes(gwName)) &&
			allowed.filter((r) => r.includes(gwName)).length === 1,
		[cfg.clean.allowed, allowed],
	);
});

await step("BLOCKED scan page", async () => {
	await go("#/scans");
	await waitText(T("scan-row"), ["tampered-model"]);
	const link = page.locator(`${T("scan-row")} a[href="#/scans/${cfg.tampered.uuid}"]`).first();
	if (check("a scan row links to its scan page", (await link.count()) === 1)) await link.click();
	else await go(`#/scans/${cfg.tampered.uuid}`);
	await openScan(cfg.tampered.uuid);
	const outcome = (await text(T("scan-outcome"))).trim();
	check("the outcome badge says BLOCKED", outcome.includes("BLOCKED"), outcome);
	const first = await page.evaluate((t) => {
		const badge = document.querySelector(t.o);
		const later = [...document.querySelectorAll(`${t.v}, ${t.f}`)];
		return later.length > 0 && later.every((e) => badge.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING);
	}, { o: T("scan-outcome"), v: T("violation"), f: T("file-row") });
	check("the outcome comes first, before the violations and the files", first);
	const v = await text(T("violation"));
	check("a violation names its policy and severity", v.includes(POLICY_NAME) && v.includes("CRITICAL"), v.slice(0, 600));
	check("the violation shows its remediation", /safetensors|malicious/i.test(v), v.slice(0, 600));
	const threatLink = page.locator(`${T("violation")} a[href="#/threats/${cfg.threat.id}"]`).first();
	check(`the violation links threat ${cfg.threat.id} to its page`, (await threatLink.count()) === 1);
	const files = await page.locator(T("file-row")).evaluateAll((rs) => rs.map((r) => r.textContent));
	const row = files.find((f) => f.includes(cfg.tampered.file)) || "";
	check("a file row shows extra_data.pkl with its sha256", row.includes(cfg.tampered.sha256), files);
	check("the file row shows the finding's byte offset", row.includes(String(cfg.tampered.offset)), row.slice(0, 600));
	const href = await page.getAttribute(T("download-json"), "href");
	const [st, body, hdrs] = await inPage("GET", href);
	let doc = {};
	try {
		doc = JSON.parse(body);
	} catch {}
	check(
		"download-json fetches the stored report as an attachment",
		st === 200 && doc.uuid === cfg.tampered.uuid &&
			(hdrs["content-disposition"] || "").includes(`attachment; filename="modelgate-${cfg.tampered.uuid}.json"`),
		[href, st, hdrs["content-disposition"]],
	);
	await shot("scan");
	await noScript("BLOCKED scan page");
	if ((await threatLink.count()) === 1) {
		await threatLink.click();
		await waitHash(`#/threats/${cfg.threat.id}`);
		await waitText("body", [cfg.threat.title]);
		check("the threat link opens the threat's page with its title", true);
		await shot("threat");
	}
});

await step("phone width", async () => {
	await page.setViewportSize({ width: 390, height: 844 });
	await openScan(cfg.tampered.uuid);
	await shot("scan-390");
	const w = await page.evaluate(() => document.documentElement.scrollWidth);
	check("the scan page fits 390 px (no horizontal scrolling)", w <= 390, w);
	await page.setViewportSize({ width: 1366, height: 800 });
});

await step("hostile model", async () => {
	await openScan(cfg.xss.uuid);
	const t = await text("body");
	check(
		"the hostile scan page shows both payloads as text",
		t.includes(cfg.script) && t.includes(cfg.img) && t.includes(cfg.xssFile),
		t.slice(0, 800),
	);
	await noScript("hostile scan page");
	await page.click(T("nav-models"));
	await waitHash("#/models");
	await waitText(T("model-row"), [cfg.xssDir]);
	check("the models list has a row per model", (await count(T("model-row"))) >= 4, await count(T("model-row")));
	await shot("models");
	await noScript("models list");
	await go(`#/models/${cfg.xss.model}`);
	await waitText("body", [cfg.xssDir, "BLOCKED"]);
	check("the hostile model's page shows its name as text", true);
	await shot("model");
	await noScript("hostile model page");
});

// the gateway page's rows, [textContent] once `want` rows are shown (or the
// rows there are after the wait, for the failure message)
const decisionsPath = "/api/v1/gateway/decisions";
async function decisionRows(want) {
	await page
		.waitForFunction(([s, n]) => document.querySelectorAll(s).length === n, [T("decision-row"), want])
		.catch(() => {});
	return page.locator(T("decision-row")).evaluateAll((rs) => rs.map((r) => r.textContent));
}
// submits the gateway filter; the decisions request it made
async function gatewayFilter(outcome, repo) {
	await page.selectOption("#g-outcome", outcome);
	await page.fill("#g-repo", repo);
	const [req] = await Promise.all([
		page.waitForRequest((r) => new URL(r.url()).pathname === decisionsPath),
		page.click('main form.filters button[type="submit"]'),
	]);
	return new URL(req.url()).searchParams;
}

await step("gateway decisions", async () => {
	const gw = cfg.gateway;
	const [resp] = await Promise.all([
		page.waitForResponse((r) => new URL(r.url()).pathname === decisionsPath),
		page.click(T("nav-gateway")),
	]);
	await waitHash("#/gateway");
	const all = await decisionRows(gw.counts[gw.clean] + gw.counts[gw.blocked]);
	const of = (rows, repo) => rows.filter((r) => r.includes(repo));
	check(
		"the gateway page shows a decision-row per real decision, no error",
		resp.status() === 200 && all.length === 3 && (await count(`${T("error-banner")}:visible`)) === 0,
		[resp.status(), gw.counts, all],
	);
	check(
		"the clean repo's rows say ALLOWED (revision API and the resolved file)",
		of(all, gw.clean).length === 2 &&
			of(all, gw.clean).every((r) => r.includes("ALLOWED") && !r.includes("BLOCKED")) &&
			of(all, gw.clean).some((r) => r.includes("model.safetensors")),
		of(all, gw.clean),
	);
	const blocked = of(all, gw.blocked);
	check(
		"the blocked repo's row says BLOCKED with its reason as text (textContent has <img onerror>)",
		blocked.length === 1 && blocked[0].includes("BLOCKED") && blocked[0].includes(gw.img),
		blocked,
	);
	const imgs = await page.evaluate(() => document.querySelectorAll("main img").length);
	check("no <img> element came from the reason", imgs === 0, imgs);
	const scanLink = page.locator(`${T("decision-row")} a[href="#/scans/${gw.blockedScan}"]`);
	check("the BLOCKED decision links to the scan that decided it", (await scanLink.count()) === 1, gw.blockedScan);
	const bare = await unlabeled();
	check("the gateway filters have labels", bare.length === 0, bare);
	await shot("gateway");
	await noScript("gateway");

	let q = await gatewayFilter("BLOCKED", "");
	const onlyBlocked = await decisionRows(gw.counts[gw.blocked]);
	check(
		"filter outcome BLOCKED: the API is asked for BLOCKED and only the blocked repo's rows show",
		q.get("outcome") === "BLOCKED" && !q.has("repo") && (await hash()) === "#/gateway?outcome=BLOCKED" &&
			onlyBlocked.length === 1 && onlyBlocked.every((r) => r.includes(gw.blocked) && r.includes("BLOCKED")),
		[q.toString(), await hash(), onlyBlocked],
	);
	q = await gatewayFilter("", gw.clean);
	const onlyClean = await decisionRows(gw.counts[gw.clean]);
	check(
		"filter repository: the API is asked for that repo and only its rows show",
		q.get("repo") === gw.clean && !q.has("outcome") && onlyClean.length === 2 &&
			onlyClean.every((r) => r.includes(gw.clean) && !r.includes(gw.blocked)),
		[q.toString(), onlyClean],
	);
	const before = await hash();
	let asked = 0;
	const countAsk = (r) => (asked += new URL(r.url()).pathname === decisionsPath ? 1 : 0);
	page.on("request", countAsk);
	await page.fill("#g-repo", "acme/bad name <x>");
	await page.click('main form.filters button[type="submit"]');
	await page.waitForSelector(`${T("field-error")}:visible`, { timeout: 3000 }).catch(() => {});
	await page.waitForTimeout(300); // a request the submit started would have gone out by now
	page.off("request", countAsk);
	check(
		"an invalid repository filter: a field-error shows, no request, the rows stay",
		(await count(`${T("field-error")}:visible`)) === 1 && asked === 0 && (await hash()) === before &&
			(await count(T("decision-row"))) === 2,
		[asked, before, await hash(), await text(T("field-error"))],
	);
	await noScript("gateway filtered");
});

await step("threats", async () => {
	await page.click(T("nav-threats"));
	await waitHash("#/threats");
	await page.waitForSelector(T("threat-row"));
	await page.waitForLoadState("networkidle");
	check("the threats page lists the whole catalog", (await count(T("threat-row"))) === cfg.threatCount, [
		await count(T("threat-row")),
		cfg.threatCount,
	]);
	await shot("threats");
	await noScript("threats");
});

await step("policies (admin)", async () => {
	await page.click(T("nav-policies"));
	await waitHash("#/policies");
	const ta = page.locator(T("param-approved_licenses"));
	await ta.waitFor();
	const before = await ta.inputValue();
	const lines = before.split("\n").map((s) => s.trim());
	check("approved licenses: one per line, the defaults", lines.includes("apache-2.0") && lines.includes("mit") &&
		!before.includes(cfg.unapproved), before);
	check("the threshold select shows MEDIUM", (await page.inputValue(T("policy-threshold"))) === "MEDIUM");
	check(
		"license-valid's row has its state and severity",
		(await count(T("policy-row-license-valid"))) === 1 &&
			(await page.inputValue(T("policy-state-license-valid"))) === "BLOCKING" &&
			(await page.inputValue(T("policy-severity-license-valid"))) === "MEDIUM",
	);
	const bare = await unlabeled();
	check("the policy form's fields have labels", bare.length === 0, bare);
	const histBefore = await text(T("policy-history"));
	// a bad entry: the error shows next to its field and nothing is sent
	const orgs = page.locator(T("param-denied_orgs"));
	let puts = 0;
	const countPut = (r) => (puts += r.method() === "PUT" ? 1 : 0);
	page.on("request", countPut);
	await orgs.fill("evil org <x>");
	await page.click(T("policy-save"));
	await page.waitForSelector(`${T("policy-row-org-not-blocked")} ${T("field-error")}:visible`);
	check(
		"an invalid denied org: the error shows in its policy's row, the field is marked invalid, nothing is saved",
		puts === 0 && (await orgs.getAttribute("aria-invalid")) === "true",
		[puts, await text(T("field-error"))],
	);
	page.off("request", countPut);
	await orgs.fill("");
	await ta.fill(before.replace(/\s*$/, "") + "\n" + cfg.unapproved + "\n");
	await page.click(T("policy-save"));
	await waitText(T("policy-diff"), [cfg.unapproved]);
	check("saving shows the diff with the added license", true);
	await page.waitForFunction(
		(s) => /token:[0-9a-f]{12}/.test(document.querySelector(s)?.textContent || ""),
		T("policy-history"),
	);
	const hist = await text(T("policy-history"));
	// an entry (a row or item) with a cell "1", the author and a time
	const entry = await page.evaluate((s) => [...document.querySelectorAll(`${s} tr, ${s} li`)]
		.map((r) => [r.textContent, [...r.children].map((c) => c.textContent.trim())])
		.find(([t, cells]) => /token:[0-9a-f]{12} \(admin\)/.test(t) && cells.includes("1")), T("policy-history"));
	check(
		"the history has the new version 1 with its author (admin) and time",
		!/token:[0-9a-f]{12}/.test(histBefore) && !!entry && /\d{4}|\d\d:\d\d/.test(entry[0]),
		hist.slice(0, 500),
	);
	const [st, body] = await inPage("GET", "/api/v1/policies");
	const p = JSON.parse(body);
	check(
		"the policy in force is version 1 with the license added and the others kept",
		st === 200 && p.version === 1 && p.yaml.includes(cfg.unapproved) && p.yaml.includes("apache-2.0"),
		[st, p.version],
	);
	await shot("policies");
	await noScript("policies");
});

await step("re-run flips the outcome", async () => {
	await openScan(cfg.licensed.uuid);
	check("the licensed model's stored scan is BLOCKED", (await text(T("scan-outcome"))).includes("BLOCKED"));
	const v = await text(T("violation"));
	check("its violation is the license policy, naming the license", v.includes(LICENSE_POLICY) &&
		v.includes(cfg.unapproved), v.slice(0, 500));
	const [req] = await Promise.all([
		page.waitForRequest((r) => r.method() === "POST" && new URL(r.url()).pathname === "/api/v1/scans"),
		page.click(T("rerun")),
	]);
	let sent = {};
	try {
		sent = JSON.parse(req.postData() || "{}");
	} catch {}
	check(
		"rerun POSTs the scan's model_uri with an X-CSRF-Token",
		sent.model_uri === cfg.licensed.uri && /^[0-9a-f]{64}$/.test(req.headers()["x-csrf-token"] || ""),
		[sent, req.headers()["x-csrf-token"]],
	);
	await page.waitForFunction(
		(s) => (document.querySelector(s)?.textContent || "").includes("ALLOWED"),
		T("scan-outcome"),
		{ timeout: 30000 },
	);
	check("after the re-run the page shows ALLOWED", true);
	const now = await hash();
	check("the re-run is a new scan (the page moved to its uuid)", !now.includes(cfg.licensed.uuid), now);
	await noScript("re-run scan page");
});

await step("CSRF (admin cookie)", async () => {
	const body = JSON.stringify({ model_uri: cfg.clean.uri });
	const json = { "Content-Type": "application/json" };
	const [none, noneBody] = await inPage("POST", "/api/v1/scans", { headers: json, body });
	check("a POST without X-CSRF-Token: 403 naming CSRF", none === 403 && /csrf/i.test(noneBody), [none, noneBody]);
	const bad = { ...json, "X-CSRF-Token": "0".repeat(64) };
	const [wrong] = await inPage("POST", "/api/v1/scans", { headers: bad, body });
	check("a POST with a wrong X-CSRF-Token: 403", wrong === 403, wrong);
	const [s, sBody] = await inPage("GET", "/api/v1/session");
	const csrf = (JSON.parse(sBody) || {}).csrf_token;
	const [right] = await inPage("POST", "/api/v1/scans", { headers: { ...json, "X-CSRF-Token": csrf }, body });
	check("the same POST with the session's CSRF token: 202", s === 200 && right === 202, [s, right]);
	const [del] = await inPage("DELETE", "/api/v1/session");
	const [still] = await inPage("GET", "/api/v1/session");
	check("DELETE /api/v1/session without the CSRF token: 403, the session lives on", del === 403 && still === 200, [
		del,
		still,
	]);
});

await step("sign out", async () => {
	const old = await sessionCookie();
	await page.click(T("signout"));
	await waitHash("#/signin");
	check("sign out goes to #/signin and the cookie is gone", !(await sessionCookie()), await context.cookies());
	const r = await fetch(cfg.base + "/api/v1/session", { headers: { Cookie: `mg_session=${old && old.value}` } });
	check("the old cookie value no longer works (session deleted server-side): 401", r.status === 401, r.status);
	await go("#/scans");
	await waitHash("#/signin");
	await page.waitForSelector(T("signin-token"));
	check("signed out, #/scans redirects to sign-in", true);
	await page.goto(cfg.base + "/#/models");
	await waitHash("#/signin");
	await page.waitForSelector(T("signin-token"));
	check("signed out, a fresh load of #/models redirects to sign-in", true);
});

await step("reader", async () => {
	await signIn(cfg.reader, "reader", null, true);
	check("the reader signs in with the keyboard (Enter); the nav shows the role", true);
	await go("#/policies");
	await waitHash("#/policies");
	await page.waitForFunction(() => /admins only/i.test(document.body.textContent));
	const editable = await count(
		`${T("policy-save")}, ${T("param-approved_licenses")}, ${T("policy-threshold")}, main textarea, main select`,
	);
	check("a reader's policies page says admins only and has no editable form", editable === 0, editable);
	const [s, sBody] = await inPage("GET", "/api/v1/session");
	const sess = JSON.parse(sBody);
	check(
		"the reader's session: role reader with a CSRF token",
		s === 200 && sess.role === "reader" && /^[0-9a-f]{64}$/.test(sess.csrf_token),
		sess,
	);
	const [, cur] = await inPage("GET", "/api/v1/policies");
	const yaml = JSON.parse(cur).yaml.replace("approved_licenses: [", "approved_licenses: [agpl-3.0, ");
	check("the forged policy differs from the one in force", yaml.includes("agpl-3.0"));
	const [put, putBody] = await inPage("PUT", "/api/v1/policies", {
		headers: { "Content-Type": "application/yaml", "X-CSRF-Token": sess.csrf_token },
		body: yaml,
	});
	check("a forged PUT /api/v1/policies with the reader's cookie and CSRF token: 403", put === 403, [put, putBody]);
	const [, after] = await inPage("GET", "/api/v1/policies");
	const p = JSON.parse(after);
	check("the policy in force is unchanged", p.version === 1 && !p.yaml.includes("agpl-3.0"), p.version);
	const [post] = await inPage("POST", "/api/v1/scans", {
		headers: { "Content-Type": "application/json", "X-CSRF-Token": sess.csrf_token },
		body: JSON.stringify({ model_uri: cfg.clean.uri }),
	});
	check("a reader's POST /api/v1/scans with a good CSRF token: 403 (role)", post === 403, post);
	await noScript("reader policies");
});

check("no dialog fired", dialogs.length === 0, dialogs);
check("no CSP violation reported on the console", cspConsole.length === 0, cspConsole);
check("no uncaught script error", pageErrors.length === 0, pageErrors);
check("every request went to the service itself (works offline)", external.length === 0, external);
await browser.close();
console.log("driver done");

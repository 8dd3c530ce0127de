// Drives headless Chromium against a running demo: the live view must
// render the tree, follow a restart, and say so when the connection drops.
//
//   node check.mjs --url http://127.0.0.1:PORT/ --screenshot out.png \
//                  --profile DIR --demo-pid PID [--chromium /usr/bin/chromium]
//
// Exits 0 when every check passes; otherwise prints what failed and exits 1.
// Every wait is bounded.

import { chromium } from "playwright-core";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith("--")) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []),
);
for (const k of ["url", "screenshot", "profile", "demo-pid"]) {
  if (!args[k]) {
    console.error(`missing --${k}`);
    process.exit(2);
  }
}
const url = new URL(args.url);
const chromiumPath = args.chromium || "/usr/bin/chromium";
const WAIT = 20_000;

const problems = [];
/** Set once the demo is asked to stop: failed reconnects are expected then. */
let stopping = false;
const log = (msg) => console.log(`browser-check: ${msg}`);

/** Resolves once `fn()` (run in the page) is truthy; fails after `ms`. */
async function waitIn(page, what, fn, arg, ms = WAIT) {
  try {
    await page.waitForFunction(fn, arg, { timeout: ms, polling: 100 });
    log(`ok: ${what}`);
  } catch (e) {
    throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
  }
}

async function post(path, body) {
  const r = await fetch(new URL(path, url), {
    method: "POST",
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT),
  });
  const text = await r.text();
  if (!r.ok) {
    const tree = await fetch(new URL("tree.json", url), { signal: AbortSignal.timeout(WAIT) })
      .then((t) => t.text())
      .catch((e) => `(tree.json: ${e.message})`);
    throw new Error(`POST ${path}: ${r.status} ${text}; the tree then: ${tree}`);
  }
  return text;
}

const row = (name) => `tr[data-name="${name}"]`;

const context = await chromium.launchPersistentContext(args.profile, {
  executablePath: chromiumPath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1100, height: 380 },
});
let exitCode = 0;
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(WAIT);
  page.on("pageerror", (e) => problems.push(`script error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (stopping && /ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|net::ERR_/.test(m.text())) return;
    problems.push(`console error: ${m.text()}`);
  });
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.origin !== url.origin) problems.push(`request outside the demo: ${r.url()}`);
  });

  log(`loading ${url}`);
  const resp = await page.goto(url.href, { waitUntil: "load", timeout: WAIT });
  if (!resp || resp.status() !== 200) throw new Error(`GET / answered ${resp && resp.status()}`);

  // 1. The tree renders, live.
  await waitIn(page, "the tree to render with every part healthy", () => {
    const ok = (n) => document.querySelector(`tr[data-name="${n}"]`)?.dataset.state === "healthy";
    return document.body.dataset.conn === "live" &&
      ["app", "app.http", "app.worker", "app.jobs", "app.flaky"].every(ok);
  });
  const text = await page.evaluate(() => document.body.innerText);
  if (text.trim().length < 100) throw new Error(`the page is nearly blank: ${JSON.stringify(text)}`);

  // 2. Time in state counts up in the page.
  const t0 = await page.textContent(`${row("app")} td.time`);
  await waitIn(page, "the time in state to count up", (t) =>
    document.querySelector('tr[data-name="app"] td.time').textContent !== t, t0);

  // 3. A job added through the API appears.
  await post("jobs/nightly", { every_secs: 5 });
  await waitIn(page, "the new job app.jobs.nightly to appear healthy", () =>
    document.querySelector('tr[data-name="app.jobs.nightly"]')?.dataset.state === "healthy");

  // 4. A restart: the flaky child fails, is marked, and comes back counted.
  const before = Number(await page.getAttribute(row("app.flaky"), "data-restarts"));
  const inc = Number(await page.getAttribute(row("app.flaky"), "data-incarnation"));
  const failing = () =>
    document.querySelector('tr[data-name="app.flaky"]').dataset.state === "backoff" &&
    document.getElementById("summary").dataset.failing === "1" &&
    document.getElementById("summary").textContent.includes("1 failing");
  await post("flaky/fail");
  await waitIn(page, "app.flaky in backoff and counted as failing", failing);
  await waitIn(page, "app.flaky restarted: healthy, counted and flashing", ([b, i]) => {
    const r = document.querySelector('tr[data-name="app.flaky"]');
    return r.dataset.state === "healthy" && Number(r.dataset.restarts) === b + 1 &&
      Number(r.dataset.incarnation) === i + 1 && r.classList.contains("flash");
  }, [before, inc]);
  const summary = await page.textContent("#summary");
  if (!summary.includes("nothing failing")) throw new Error(`summary after the restart: ${summary}`);

  // Once more, for the picture: a node with a restart behind it, backing off.
  await waitIn(page, "the flash to fade", () =>
    document.querySelector('tr[data-name="app.flaky"]').getAnimations({ subtree: true }).length === 0);
  await post("flaky/fail");
  await waitIn(page, "app.flaky in backoff again", failing);
  await page.screenshot({ path: args.screenshot, fullPage: true });
  log(`screenshot: ${args.screenshot}`);

  // 5. The demo stops: the page says the connection is lost.
  stopping = true;
  process.kill(Number(args["demo-pid"]), "SIGINT");
  log("demo asked to stop (SIGINT)");
  await waitIn(page, "the connection-lost banner", () =>
    !document.getElementById("lost").hidden && document.body.dataset.conn === "lost");
} catch (e) {
  problems.push(e.message);
} finally {
  await context.close();
}
if (problems.length > 0) {
  for (const p of problems) console.error(`browser-check: FAIL: ${p}`);
  exitCode = 1;
} else {
  log("all checks passed");
}
process.exit(exitCode);

// The extension as a person uses it: Debian's Chromium (headless, driven by playwright-core)
// loads the unpacked build, opens a fixture page of x.com served without network, scrolls,
// clicks "Show anyway", changes options in the popup, survives its service worker being
// stopped, refuses a tampered model, and sends nothing anywhere.
//
// The demo model is a smoke model, so decisions are checked against what the Python runtime
// says for the same texts (test/fixture_posts.py), not against the true labels.
//
// Inputs (set by `make test-extension`):
//   JANITR_WEB_MODEL  folder written by `janitr export web`
//   JANITR_POSTS      JSON written by test/fixture_posts.py for the same bundle
//   CHROMIUM          the browser binary (default /usr/bin/chromium)
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { build } from "../scripts/build.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS = resolve(HERE, "..", "test-results");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const WAIT = { timeout: 60_000 }; // generous: a loaded CI machine shares two cores

function required(name) {
  const value = process.env[name];
  if (!value || !existsSync(value)) {
    throw new Error(`${name}=${value || ""} is not set or does not exist; run \`make test-extension\` from the repo root`);
  }
  return value;
}

const posts = JSON.parse(readFileSync(required("JANITR_POSTS"), "utf8"));
const fixtureHtml = readFileSync(join(HERE, "fixtures", "x.html"), "utf8");
/** A post's page: a clean post first, then its replies (scams among them, as on X). */
const conversation = [
  posts.page.find((p) => p.expected === "clean"),
  ...posts.page.filter((p) => p !== posts.page.find((q) => q.expected === "clean")),
];

/** The fixture page with its posts; JSON inside <script> with `<` escaped. */
function renderPage(title, page, later) {
  const json = (value) => JSON.stringify(value).replaceAll("<", "\\u003c");
  // Replacement functions: a post's "$&" or "$'" must stay text, not a replacement pattern.
  return fixtureHtml
    .replaceAll("%TITLE%", () => title)
    .replace("%POSTS%", () => json(page))
    .replace("%LATER%", () => json(later));
}

/** Build the extension into a temporary folder; `tamper(dir)` may damage it afterwards. */
function buildInto(label, tamper) {
  const out = mkdtempSync(join(tmpdir(), `janitr-ext-${label}-`));
  build({ model: required("JANITR_WEB_MODEL"), out });
  if (tamper) tamper(out);
  return out;
}

/**
 * Chromium with the extension, every request watched: x.com is served from the fixture,
 * anything else that is not the extension's own file is recorded and aborted.
 */
async function launch(extensionDir) {
  const userDir = mkdtempSync(join(tmpdir(), "janitr-profile-"));
  const context = await chromium.launchPersistentContext(userDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 760, height: 1400 },
    args: [
      `--disable-extensions-except=${extensionDir}`,
      `--load-extension=${extensionDir}`,
      "--no-sandbox",
      "--host-resolver-rules=MAP * ~NOTFOUND", // nothing resolves: a leak could not succeed
      "--disable-background-networking",
      "--disable-component-update",
      `--log-net-log=${join(userDir, "netlog.json")}`,
    ],
  });
  const seen = []; // every URL any page or worker of this context requested
  const blocked = []; // the ones that were neither the fixture nor the extension
  context.on("request", (request) => seen.push(request.url()));
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.origin === "https://x.com") {
      const [title, part, later] = url.pathname.startsWith("/search")
        ? ["Search", posts.page.slice(0, 4), posts.later]
        : url.pathname.includes("/status/")
          ? ["Post", conversation, []]
          : ["Home", posts.page, posts.later];
      return route.fulfill({ contentType: "text/html; charset=utf-8", body: renderPage(title, part, later) });
    }
    if (url.protocol === "chrome-extension:") return route.continue();
    blocked.push(url.href);
    return route.abort("blockedbyclient");
  });
  let [worker] = context.serviceWorkers();
  worker ??= await context.waitForEvent("serviceworker", WAIT);
  const extensionId = new URL(worker.url()).host;
  return { context, userDir, extensionDir, extensionId, seen, blocked };
}

/** URL requests in Chromium's network log (written as the browser closes): {url, initiator}. */
function netlogRequests(path) {
  let text = readFileSync(path, "utf8").trimEnd();
  if (!text.endsWith("}")) text = `${text.replace(/,$/, "")}]}`; // a log cut short: close it
  const log = JSON.parse(text);
  const start = log.constants.logEventTypes.URL_REQUEST_START_JOB;
  return log.events
    .filter((e) => e.type === start && e.params && e.params.url)
    .map((e) => ({ url: e.params.url, initiator: e.params.initiator }));
}

async function close(browser) {
  if (!browser) return;
  await browser.context.close(); // a second close is harmless
  rmSync(browser.userDir, { recursive: true, force: true });
  rmSync(browser.extensionDir, { recursive: true, force: true });
}

/** The current service worker (a new one after a restart). */
function worker(browser) {
  const workers = browser.context.serviceWorkers().filter((w) => w.url().includes(browser.extensionId));
  assert.ok(workers.length > 0, "the extension's service worker is not running");
  return workers[workers.length - 1];
}

/** Wait until every post on the page has a verdict; return {postId: label}. */
async function verdicts(page, count) {
  await page.waitForFunction(
    (n) => {
      const all = document.querySelectorAll('article[data-testid="tweet"]');
      return all.length === n && [...all].every((a) => a.dataset.janitrLabel);
    },
    count,
    WAIT,
  );
  return page.$$eval('article[data-testid="tweet"]', (all) =>
    Object.fromEntries(all.map((a) => [a.dataset.postId, a.dataset.janitrLabel])),
  );
}

const expectedOf = (list) => Object.fromEntries(list.map((p) => [p.id, p.expected]));
const article = (page, post) => page.locator(`article[data-post-id="${post.id}"]`);
const text = (page, post) => article(page, post).locator('[data-testid="tweetText"]');

async function openPopup(browser, tabId) {
  const popup = await browser.context.newPage();
  await popup.goto(`chrome-extension://${browser.extensionId}/src/popup.html?tab=${tabId}`);
  await popup.waitForSelector("body[data-ready=true]", WAIT);
  return popup;
}

/** Poll `fn` until `ok(value)` (the page's report to the worker is asynchronous). */
async function until(fn, ok, what) {
  const deadline = Date.now() + WAIT.timeout;
  for (;;) {
    const value = await fn();
    if (ok(value)) return value;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The tab id the service worker keeps counts for (the only x.com tab). */
async function xTabId(browser) {
  const ids = await until(
    () => worker(browser).evaluate(async () => Object.keys(await chrome.storage.session.get(null))),
    (keys) => keys.length > 0,
    "counts of the x.com tab",
  );
  assert.equal(ids.length, 1, `expected counts for one tab, got ${ids}`);
  return Number(ids[0].split(":")[1]);
}

const badge = (browser, tabId) => worker(browser).evaluate((id) => chrome.action.getBadgeText({ tabId: id }), tabId);

// A step that hangs fails after this long instead of holding CI.
const STEP = { timeout: 120_000 };

describe("the extension on a fixture x.com page", () => {
  let browser;
  let page;
  let tabId;

  before(async () => {
    browser = await launch(buildInto("ok"));
  });
  after(async () => {
    await close(browser);
  });

  test("the unpacked extension loads", STEP, async () => {
    assert.match(browser.extensionId, /^[a-p]{32}$/);
    const manifest = await worker(browser).evaluate(() => chrome.runtime.getManifest());
    assert.equal(manifest.manifest_version, 3);
    page = await browser.context.newPage();
    await page.goto("https://x.com/home");
  });

  test("scam posts are hidden, clean and crypto posts untouched (by default)", STEP, async () => {
    const got = await verdicts(page, posts.page.length);
    assert.deepEqual(got, expectedOf(posts.page));
    for (const post of posts.page) {
      const el = article(page, post);
      if (post.expected === "scam") {
        assert.equal(await el.getAttribute("data-janitr-action"), "hide");
        assert.equal(await text(page, post).isVisible(), false, `scam ${post.id} is still visible`);
        assert.equal(await el.getByRole("button", { name: "Show anyway" }).isVisible(), true);
      } else {
        assert.equal(await el.getAttribute("data-janitr-action"), null, `${post.expected} ${post.id} was acted on`);
        assert.equal(await text(page, post).isVisible(), true);
        assert.equal(await el.locator(".janitr-bar").count(), 0);
      }
    }
    tabId = await xTabId(browser);
    const scams = String(posts.page.filter((p) => p.expected === "scam").length);
    await until(() => badge(browser, tabId), (text) => text === scams, `the badge (want ${scams})`);
  });

  test("posts inserted later by scrolling are classified", STEP, async () => {
    await page.mouse.wheel(0, 20_000);
    const got = await verdicts(page, posts.page.length + posts.later.length);
    assert.deepEqual(got, expectedOf([...posts.page, ...posts.later]));
    for (const post of posts.later.filter((p) => p.expected === "scam")) {
      assert.equal(await text(page, post).isVisible(), false);
    }
  });

  test("a post whose text X replaces in place is classified again", STEP, async () => {
    // X reuses a post's elements as the timeline scrolls: same <article>, new text.
    const clean = posts.later.find((p) => p.expected === "clean");
    const scam = posts.later.find((p) => p.expected === "scam");
    await text(page, clean).evaluate((el, t) => (el.firstElementChild.textContent = t), scam.text);
    await page.waitForFunction((id) => document.querySelector(`article[data-post-id="${id}"]`).dataset.janitrLabel === "scam", clean.id, WAIT);
    assert.equal(await text(page, clean).isVisible(), false);
    await text(page, clean).evaluate((el, t) => (el.firstElementChild.textContent = t), clean.text);
    await page.waitForFunction((id) => document.querySelector(`article[data-post-id="${id}"]`).dataset.janitrLabel === "clean", clean.id, WAIT);
    assert.equal(await text(page, clean).isVisible(), true);
    assert.equal(await article(page, clean).locator(".janitr-bar").count(), 0);
  });

  test('"Show anyway" reveals a hidden post, "Hide again" folds it back', STEP, async () => {
    const scam = posts.page.find((p) => p.expected === "scam");
    await article(page, scam).getByRole("button", { name: "Show anyway" }).click();
    assert.equal(await text(page, scam).isVisible(), true);
    assert.equal(await text(page, scam).innerText(), scam.text.trim());
    assert.equal(page.url(), "https://x.com/home", "the click opened the post");
    await article(page, scam).getByRole("button", { name: "Hide again" }).click();
    assert.equal(await text(page, scam).isVisible(), false);
    await article(page, scam).getByRole("button", { name: "Show anyway" }).click(); // for the screenshot
  });

  test("the popup shows the counts and the model, and its options take effect", STEP, async () => {
    const popup = await openPopup(browser, tabId);
    const all = [...posts.page, ...posts.later];
    const count = (label) => all.filter((p) => p.expected === label).length;
    await popup.waitForFunction(
      (want) => document.getElementById("page-stats").textContent.startsWith(want),
      `${count("scam")} likely scam`,
      WAIT,
    );
    assert.match(await popup.locator("#page-stats").innerText(), new RegExp(`among ${all.length} posts checked`));
    assert.equal(await popup.locator("#error").isVisible(), false);
    assert.match(await popup.locator("#model").innerText(), /^Model: \S+.*running on this computer/);
    assert.equal(await popup.locator("#action-scam").inputValue(), "hide");
    assert.equal(await popup.locator("#action-topic_crypto").inputValue(), "none");
    mkdirSync(RESULTS, { recursive: true });
    await popup.locator("body").screenshot({ path: join(RESULTS, "popup.png") });

    // Crypto posts: from "Leave alone" to "Label".
    await popup.locator("#action-topic_crypto").selectOption("label");
    const crypto = posts.page.find((p) => p.expected === "topic_crypto");
    await article(page, crypto).locator(".janitr-bar", { hasText: "Janitr: a crypto post" }).waitFor(WAIT);
    assert.equal(await text(page, crypto).isVisible(), true);

    // Scams: from "Hide" to "Blur" (the post is visible but blurred, with the button).
    await popup.locator("#action-scam").selectOption("blur");
    const scam = posts.page.filter((p) => p.expected === "scam")[1];
    await page.waitForFunction((id) => document.querySelector(`article[data-post-id="${id}"]`).dataset.janitrAction === "blur", scam.id, WAIT);
    const blurred = () => text(page, scam).evaluate((el) => getComputedStyle(el.closest("article").firstElementChild).filter);
    assert.match(await blurred(), /blur/);
    await article(page, scam).getByRole("button", { name: "Show anyway" }).click();
    assert.equal(await blurred(), "none");
    await article(page, scam).getByRole("button", { name: "Blur again" }).click();
    assert.match(await blurred(), /blur/);

    // Off: everything as X shows it; on again: the verdicts come back without a new request.
    await popup.locator("#enabled").uncheck();
    await page.waitForFunction(() => document.querySelectorAll(".janitr-bar").length === 0, null, WAIT);
    assert.equal(await text(page, scam).isVisible(), true);
    await popup.locator("#enabled").check();
    await article(page, scam).locator(".janitr-bar").waitFor(WAIT);

    await popup.locator("#action-scam").selectOption("hide");
    await page.waitForFunction((id) => document.querySelector(`article[data-post-id="${id}"]`).dataset.janitrAction === "hide", scam.id, WAIT);
    await popup.close();

    mkdirSync(RESULTS, { recursive: true });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(RESULTS, "extension.png"), fullPage: false });
  });

  test("after the service worker is stopped, classification resumes", STEP, async () => {
    // DevTools' ServiceWorker domain, from a page of the extension's own origin, stops the
    // extension's worker as Chrome does after 30 s idle; its status events say when.
    const devtools = await openPopup(browser, tabId);
    const cdp = await browser.context.newCDPSession(devtools);
    const history = [];
    const reached = (status) =>
      new Promise((resolve) => {
        const check = (e) => {
          for (const v of e.versions) history.push(v.runningStatus);
          if (e.versions.some((v) => v.scriptURL.endsWith("/src/background.js") && v.runningStatus === status)) {
            cdp.off("ServiceWorker.workerVersionUpdated", check);
            resolve();
          }
        };
        cdp.on("ServiceWorker.workerVersionUpdated", check);
      });
    const stopped = reached("stopped");
    await cdp.send("ServiceWorker.enable");
    await cdp.send("ServiceWorker.stopAllWorkers");
    await stopped;
    const running = reached("running");
    await page.evaluate((list) => {
      const timeline = document.getElementById("timeline");
      for (const post of list) timeline.append(window.janitrFixture.cell(post));
    }, posts.restart);
    const all = [...posts.page, ...posts.later, ...posts.restart];
    assert.deepEqual(await verdicts(page, all.length), expectedOf(all));
    await running; // the content script's request woke a new worker
    const stoppedAt = history.indexOf("stopped");
    assert.ok(stoppedAt >= 0 && history.lastIndexOf("running") > stoppedAt, `worker states: ${history}`);
    await cdp.detach();
    await devtools.close();
  });

  test("the search page is checked too", STEP, async () => {
    const search = await browser.context.newPage();
    await search.goto("https://x.com/search?q=airdrop&src=typed_query");
    const shown = posts.page.slice(0, 4);
    assert.deepEqual(await verdicts(search, shown.length), expectedOf(shown));
    await search.close();
  });

  test("a post's replies are checked, on a loaded post page and on one opened in place", STEP, async () => {
    const loaded = await browser.context.newPage();
    await loaded.goto(`https://x.com/${conversation[0].handle}/status/${conversation[0].id}`);
    assert.deepEqual(await verdicts(loaded, conversation.length), expectedOf(conversation));
    for (const reply of conversation.filter((p) => p.expected === "scam")) {
      assert.equal(await text(loaded, reply).isVisible(), false, `scam reply ${reply.id} is visible`);
    }
    // X opens a post without loading a page: the timeline's cells are replaced in place.
    await loaded.goto("https://x.com/home");
    await verdicts(loaded, posts.page.length);
    await loaded.evaluate((c) => window.janitrFixture.openConversation(c), conversation);
    assert.match(new URL(loaded.url()).pathname, /\/status\//);
    assert.deepEqual(await verdicts(loaded, conversation.length), expectedOf(conversation));
    await loaded.close();
  });

  test("no request leaves the browser", STEP, async () => {
    // An extension page cannot even try: the CSP allows connections to the extension only.
    const popup = await openPopup(browser, tabId);
    const attempt = await popup.evaluate(() => fetch("https://example.com/").then(() => "sent", (e) => e.name));
    assert.equal(attempt, "TypeError", "an extension page could fetch another origin");
    await popup.close();
    // Every request of the pages (fixture and extension pages) went to x.com's fixture or the
    // extension; the route aborted nothing.
    const own = `chrome-extension://${browser.extensionId}/`;
    assert.deepEqual(browser.seen.filter((u) => !u.startsWith(own) && !u.startsWith("https://x.com/")), []);
    assert.deepEqual(browser.blocked, []);
    // Chromium's network log sees what Playwright does not (the service worker, the offscreen
    // document): no request that a page, worker or the extension started reached the network.
    // Requests the browser makes for itself ("not an origin": its update and sign-in checks,
    // which the host-resolver rule makes fail) are not the extension's.
    await browser.context.close();
    const requests = netlogRequests(join(browser.userDir, "netlog.json"));
    assert.ok(requests.length > 0, "the network log recorded nothing: is --log-net-log honoured?");
    assert.deepEqual(requests.filter((r) => r.initiator !== "not an origin" && !r.url.startsWith("https://x.com/")), []);
  });
});

describe("a tampered model", () => {
  let browser;
  before(async () => {
    const dir = buildInto("tampered", (out) => {
      const path = join(out, "model", "model.onnx");
      const bytes = readFileSync(path);
      bytes[bytes.length >> 1] ^= 0xff; // one flipped byte in the middle
      writeFileSync(path, bytes);
    });
    browser = await launch(dir);
  });
  after(async () => {
    await close(browser);
  });

  test("disables classification and shows the error", STEP, async () => {
    const page = await browser.context.newPage();
    await page.goto("https://x.com/home");
    const tabId = await xTabId(browser);
    const popup = await openPopup(browser, tabId);
    await popup.locator("#error").waitFor({ state: "visible", ...WAIT });
    const message = await popup.locator("#error").innerText();
    assert.match(message, /Janitr is not checking posts/);
    assert.match(message, /model\.onnx/);
    mkdirSync(RESULTS, { recursive: true });
    await popup.locator("body").screenshot({ path: join(RESULTS, "popup-error.png") });
    await until(() => badge(browser, tabId), (text) => text === "!", "the badge (want !)");
    // Nothing was hidden on a guess: every post is shown as X shows it.
    for (const post of posts.page) {
      assert.equal(await text(page, post).isVisible(), true);
      assert.equal(await article(page, post).getAttribute("data-janitr-action"), null);
    }
    await popup.close();
  });
});

// The service worker: it relays messages and owns nothing else. Content scripts ask it to
// classify post texts; it makes sure the offscreen document (where the model runs) exists and
// forwards the request there. It also keeps each tab's counts of flagged posts (in
// chrome.storage.session, which lives in memory and survives this worker being stopped) and
// shows them on the toolbar badge. It never stores post text.

const OFFSCREEN_URL = "src/offscreen.html";
/** How often to retry a message to an offscreen document that is still starting. */
const RELAY_TRIES = 20;
const RELAY_WAIT_MS = 100;

let creating = null; // the pending chrome.offscreen.createDocument, shared by concurrent callers

/** Create the offscreen document unless it exists (it may outlive a stopped service worker). */
async function ensureOffscreen() {
  const url = chrome.runtime.getURL(OFFSCREEN_URL);
  const open = await chrome.runtime.getContexts({ contextTypes: ["OFFSCREEN_DOCUMENT"], documentUrls: [url] });
  if (open.length > 0) return;
  creating ??= chrome.offscreen
    .createDocument({
      url: OFFSCREEN_URL,
      reasons: ["WORKERS"],
      justification: "Runs the Janitr model (WebAssembly) on post text, on this machine.",
    })
    .catch((err) => {
      // Another caller (or a previous life of this worker) created it first: that is fine.
      if (!/single offscreen document/i.test(String(err && err.message))) throw err;
    })
    .finally(() => {
      creating = null;
    });
  await creating;
}

/** Send a message to the offscreen document and return its answer. */
async function toOffscreen(message) {
  await ensureOffscreen();
  for (let attempt = 1; ; attempt++) {
    try {
      const answer = await chrome.runtime.sendMessage({ ...message, target: "offscreen" });
      if (answer !== undefined) return answer;
      throw new Error("the offscreen document gave no answer");
    } catch (err) {
      // Right after creation its listener may not be registered yet.
      if (attempt >= RELAY_TRIES) throw err;
      await new Promise((resolve) => setTimeout(resolve, RELAY_WAIT_MS));
    }
  }
}

/** The message of an error, for showing to a person. */
function describe(err) {
  return err && err.message ? err.message : String(err);
}

async function classify(texts) {
  if (!Array.isArray(texts) || !texts.every((t) => typeof t === "string")) {
    return { ok: false, error: "janitr:classify expects {texts: string[]}" };
  }
  try {
    return await toOffscreen({ type: "janitr:classify", texts });
  } catch (err) {
    return { ok: false, error: `Janitr could not reach its model: ${describe(err)}` };
  }
}

async function modelStatus() {
  try {
    return await toOffscreen({ type: "janitr:status" });
  } catch (err) {
    return { ready: false, error: `Janitr could not start its model: ${describe(err)}` };
  }
}

/** Counts a content script reported for its tab: kept for the popup and shown on the badge. */
async function recordPageStats(tabId, stats, modelError) {
  const clean = {
    scam: Number(stats && stats.scam) || 0,
    topic_crypto: Number(stats && stats.topic_crypto) || 0,
    checked: Number(stats && stats.checked) || 0,
    error: modelError ? String(modelError) : null,
  };
  await chrome.storage.session.set({ [`tab:${tabId}`]: clean });
  const text = clean.error ? "!" : clean.scam > 0 ? String(clean.scam) : "";
  await chrome.action.setBadgeBackgroundColor({ tabId, color: clean.error ? "#b3261e" : "#5f6368" });
  await chrome.action.setBadgeText({ tabId, text });
}

async function pageStats(tabId) {
  const key = `tab:${tabId}`;
  const got = await chrome.storage.session.get(key);
  return got[key] || null;
}

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (!message || message.target === "offscreen") return false; // not for this worker
  const tabId = sender.tab && sender.tab.id;
  let work;
  switch (message.type) {
    case "janitr:classify":
      work = classify(message.texts);
      break;
    case "janitr:page-stats":
      if (tabId === undefined) return false;
      work = recordPageStats(tabId, message.stats, message.error).then(() => ({ ok: true }));
      break;
    case "janitr:status":
      work = Promise.all([modelStatus(), message.tabId != null ? pageStats(message.tabId) : null]).then(
        ([model, page]) => ({ model, page }),
      );
      break;
    default:
      return false;
  }
  work.then(sendResponse, (err) => sendResponse({ ok: false, error: describe(err) }));
  return true; // the answer comes asynchronously
});

chrome.tabs.onRemoved.addListener((tabId) => {
  chrome.storage.session.remove(`tab:${tabId}`);
});

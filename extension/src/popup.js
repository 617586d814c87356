// The popup (also the options page): the on/off switch, what to do with each class, this
// page's counts, and the model's id or its load error. It only reads and writes settings and
// asks the service worker for the model's state; it never sees post text.
import "./settings.js";

const Settings = globalThis.JanitrSettings;
const ACTION_NAMES = { hide: "Hide", blur: "Blur", label: "Label", none: "Leave alone" };
const $ = (id) => document.getElementById(id);

/** The tab this popup is about: `?tab=ID` when opened as a page, else the active tab. */
async function targetTab() {
  const fromUrl = Number(new URLSearchParams(location.search).get("tab"));
  if (Number.isInteger(fromUrl) && fromUrl > 0) return fromUrl;
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab ? tab.id : null;
}

function showSettings(settings) {
  $("enabled").checked = settings.enabled;
  $("enabled-text").textContent = settings.enabled ? "On" : "Off";
  for (const select of document.querySelectorAll("select[data-class]")) {
    select.value = settings.actions[select.dataset.class];
  }
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

function showStatus({ model, page }) {
  const error = (model && model.error) || (page && page.error) || null;
  $("error").hidden = !error;
  $("error-text").textContent = error || "";
  if (model && model.ready) {
    $("model").textContent = `Model: ${model.modelId || "unnamed"}, running on this computer.`;
  } else {
    $("model").textContent = "Model: not loaded.";
  }
  if (page && error) {
    $("page-stats").textContent = "No posts checked: the model is not loaded.";
  } else if (page) {
    $("page-stats").textContent =
      `${plural(page.scam, "likely scam", "likely scams")} and ` +
      `${plural(page.topic_crypto, "crypto post", "crypto posts")} ` +
      `among ${plural(page.checked, "post", "posts")} checked.`;
  }
}

async function refresh(tabId, { askPage = false } = {}) {
  if (askPage && tabId !== null) {
    // Ask the page to report its latest counts.
    try {
      await chrome.tabs.sendMessage(tabId, { type: "janitr:page-stats-request" });
    } catch {
      // a page without Janitr (not x.com, or opened before it was installed) does not answer
    }
  }
  const status = await chrome.runtime.sendMessage({ type: "janitr:status", tabId });
  showStatus(status || { model: { error: "the service worker did not answer" }, page: null });
}

async function main() {
  for (const select of document.querySelectorAll("select[data-class]")) {
    for (const action of Settings.ACTIONS) select.add(new Option(ACTION_NAMES[action], action));
    select.addEventListener("change", () => Settings.save({ actions: { [select.dataset.class]: select.value } }));
  }
  $("enabled").addEventListener("change", (e) => Settings.save({ enabled: e.target.checked }));
  Settings.onChange(showSettings);
  showSettings(await Settings.load());
  const tabId = await targetTab();
  await refresh(tabId, { askPage: true });
  // Counts change as the page scrolls: keep them current while the popup is open.
  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === "session" && `tab:${tabId}` in changes) refresh(tabId);
  });
  document.body.dataset.ready = "true";
}

main();

// The content script on x.com: DOM only. It finds posts (`article[data-testid="tweet"]`: the
// timeline, replies, search, and posts that scrolling inserts later), sends their text in small
// batches to the service worker, and applies the person's choice for each class: hide (with a
// one-click "Show anyway"), blur, label, or nothing. It keeps what it learned in memory only
// (a WeakMap from post element to its label); no post text is stored or sent anywhere but to
// the extension's own model.
(() => {
  const POST = 'article[data-testid="tweet"]';
  const POST_TEXT = '[data-testid="tweetText"]';
  /** Posts per classify request: small, so the first verdicts appear quickly. */
  const BATCH = 8;
  /** Wait this long after a DOM change before scanning (X changes the DOM in bursts). */
  const SCAN_DELAY_MS = 50;
  const BAR = "janitr-bar";
  const NAMES = { scam: "a likely scam", topic_crypto: "a crypto post" };

  const Settings = globalThis.JanitrSettings;
  let settings = Settings.resolve(null);
  /** element -> {text, label, revealed}; label is undefined while pending, null if unclassifiable */
  const seen = new WeakMap();
  /** Per-page counts: each distinct post text counted once (text kept in memory only). */
  const counted = new Map(); // text -> label
  let countedPath = location.pathname;
  let pending = []; // elements waiting to be sent
  let sending = false;
  let scanTimer = null;
  let modelError = null;
  let observer = null;

  /** The post's own text as X shows it: text nodes, emoji images by their alt text, line breaks. */
  function postText(article) {
    const el = article.querySelector(POST_TEXT);
    if (!el) return "";
    let out = "";
    const walk = (node) => {
      for (const child of node.childNodes) {
        if (child.nodeType === Node.TEXT_NODE) out += child.data;
        else if (child.nodeName === "IMG") out += child.getAttribute("alt") || "";
        else if (child.nodeName === "BR") out += "\n";
        else if (child.nodeType === Node.ELEMENT_NODE) walk(child);
      }
    };
    walk(el);
    return out;
  }

  function scheduleScan() {
    if (scanTimer !== null || !settings.enabled) return;
    scanTimer = setTimeout(() => {
      scanTimer = null;
      scan();
    }, SCAN_DELAY_MS);
  }

  /** Queue every post whose text is new or changed (X reuses elements as it scrolls). */
  function scan() {
    if (!settings.enabled) return;
    if (location.pathname !== countedPath) {
      // X navigates without reloading: "this page" starts again on a new path.
      countedPath = location.pathname;
      counted.clear();
    }
    for (const article of document.querySelectorAll(POST)) {
      const text = postText(article);
      const known = seen.get(article);
      // Known and classified, or waiting, or the model is failing (retried on a settings change).
      if (known && known.text === text && (known.label !== undefined || known.queued || modelError)) continue;
      const state = { text, label: undefined, revealed: false, queued: false };
      seen.set(article, state);
      clear(article);
      if (text.trim() === "") continue; // media-only posts: nothing to read
      state.queued = true;
      pending.push(article);
    }
    send();
  }

  async function send() {
    if (sending) return;
    sending = true;
    try {
      while (pending.length > 0 && settings.enabled) {
        const batch = [...new Set(pending.splice(0, BATCH))].filter((el) => el.isConnected && seen.get(el).queued);
        batch.forEach((el) => (seen.get(el).queued = false));
        if (batch.length === 0) continue;
        const texts = batch.map((el) => seen.get(el).text);
        let answer;
        try {
          answer = await chrome.runtime.sendMessage({ type: "janitr:classify", texts });
        } catch (err) {
          // The extension was reloaded or removed: this script is orphaned, stop quietly.
          stop();
          return;
        }
        if (!answer || !answer.ok) {
          modelError = (answer && answer.error) || "no answer from the model";
          pending.forEach((el) => (seen.get(el).queued = false));
          pending = [];
          report();
          return; // classification is disabled until the page is reloaded
        }
        modelError = null;
        batch.forEach((el, i) => {
          const state = seen.get(el);
          if (!state || state.text !== texts[i]) return; // changed meanwhile: scanned again
          state.label = answer.results[i].label;
          counted.set(texts[i], state.label);
          apply(el);
        });
        report();
      }
    } finally {
      sending = false;
    }
  }

  /** Tell the service worker this page's counts (for the badge and the popup). */
  function report() {
    const stats = { scam: 0, topic_crypto: 0, checked: 0 };
    for (const label of counted.values()) {
      stats.checked += 1;
      if (label in stats) stats[label] += 1;
    }
    chrome.runtime.sendMessage({ type: "janitr:page-stats", stats, error: modelError }).catch(() => {});
  }

  function clear(article) {
    article.querySelectorAll(`:scope > .${BAR}`).forEach((bar) => bar.remove());
    delete article.dataset.janitrAction;
    delete article.dataset.janitrLabel;
  }

  /** Show the post according to its label, the settings and whether the person revealed it. */
  function apply(article) {
    const state = seen.get(article);
    clear(article);
    if (!state || state.label === undefined) return;
    article.dataset.janitrLabel = state.label === null ? "none" : state.label;
    const action = settings.enabled && state.label in NAMES ? settings.actions[state.label] : "none";
    if (action === "none") return;
    article.dataset.janitrAction = state.revealed && action !== "label" ? "revealed" : action;
    article.append(bar(article, state, action));
  }

  function bar(article, state, action) {
    const el = document.createElement("div");
    el.className = BAR;
    el.dataset.janitrClass = state.label;
    const note = document.createElement("span");
    note.className = "janitr-note";
    const name = NAMES[state.label];
    if (action === "label") {
      note.textContent = `Janitr: ${name}`;
      el.append(note);
      return el;
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "janitr-toggle";
    if (state.revealed) {
      note.textContent = `Janitr flagged this as ${name}. Shown because you asked.`;
      button.textContent = action === "blur" ? "Blur again" : "Hide again";
    } else {
      note.textContent = action === "hide" ? `Janitr hid ${name}.` : `Janitr blurred ${name}.`;
      button.textContent = "Show anyway";
    }
    button.addEventListener("click", (event) => {
      // The post is a link: a click on the bar must not open it.
      event.preventDefault();
      event.stopPropagation();
      state.revealed = !state.revealed;
      apply(article);
    });
    el.append(note, button);
    return el;
  }

  function applyAll() {
    for (const article of document.querySelectorAll(POST)) apply(article);
  }

  function start() {
    if (!observer) {
      observer = new MutationObserver(scheduleScan);
      observer.observe(document.documentElement, { childList: true, subtree: true, characterData: true });
    }
    scan();
  }

  function stop() {
    if (observer) observer.disconnect();
    observer = null;
    pending.forEach((el) => (seen.get(el).queued = false));
    pending = [];
  }

  Settings.onChange((next) => {
    settings = next;
    modelError = null; // a change of settings is a fair moment to try the model again
    if (settings.enabled) {
      applyAll();
      start();
    } else {
      stop();
      for (const article of document.querySelectorAll(POST)) clear(article);
    }
  });

  chrome.runtime.onMessage.addListener((message, _sender, sendResponse) => {
    // The popup asks for a fresh count when it opens.
    if (message && message.type === "janitr:page-stats-request") {
      report();
      sendResponse({ ok: true });
    }
    return false;
  });

  Settings.load().then((loaded) => {
    settings = loaded;
    if (settings.enabled) start();
  });
})();

// The user's choices and their defaults, shared by the content script and the popup. A
// classic script that also works as a side-effect module import: the content script cannot
// import ES modules, so both read `globalThis.JanitrSettings`.
// Settings live in chrome.storage.local (never `sync`: nothing leaves this machine).
(() => {
  /** What can be done to a post of a class, in the order the popup lists them. */
  const ACTIONS = ["hide", "blur", "label", "none"];
  /** The classes a person can act on ("clean" is never acted on). */
  const CLASSES = ["scam", "topic_crypto"];
  const DEFAULTS = Object.freeze({
    enabled: true,
    actions: Object.freeze({ scam: "hide", topic_crypto: "none" }),
  });
  const KEY = "settings";

  /** Fill gaps and drop unknown values, so that a damaged or older record still works. */
  function resolve(stored) {
    const s = stored && typeof stored === "object" ? stored : {};
    const actions = {};
    for (const cls of CLASSES) {
      const a = s.actions && s.actions[cls];
      actions[cls] = ACTIONS.includes(a) ? a : DEFAULTS.actions[cls];
    }
    return { enabled: typeof s.enabled === "boolean" ? s.enabled : DEFAULTS.enabled, actions };
  }

  /** The current settings (defaults where nothing was saved). */
  async function load() {
    const got = await chrome.storage.local.get(KEY);
    return resolve(got[KEY]);
  }

  /** Save a partial change ({enabled} and/or {actions: {cls: action}}); returns the result. */
  async function save(change) {
    const current = await load();
    const next = resolve({
      enabled: "enabled" in change ? change.enabled : current.enabled,
      actions: { ...current.actions, ...(change.actions || {}) },
    });
    await chrome.storage.local.set({ [KEY]: next });
    return next;
  }

  /** Call `fn(settings)` whenever they change (from any page of the extension). */
  function onChange(fn) {
    chrome.storage.onChanged.addListener((changes, area) => {
      if (area === "local" && KEY in changes) fn(resolve(changes[KEY].newValue));
    });
  }

  globalThis.JanitrSettings = Object.freeze({ ACTIONS, CLASSES, DEFAULTS, KEY, resolve, load, save, onChange });
})();

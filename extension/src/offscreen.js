// The offscreen document: the one place the model runs. It loads onnxruntime-web (one thread:
// extension pages are not cross-origin isolated) and the web bundle in `model/`, which
// classifier.js verifies file by file against the SHA-256 sums in janitr-web.json. A bundle that
// fails to load (a tampered or missing file) stays failed: classification is disabled and every
// answer carries the error, never a silent fallback. Requests run one at a time.
//
// The heavy modules are imported dynamically so that a failure to load them becomes an error
// that the popup can show, instead of a document that never answers.

const ORT_DIR = "vendor/onnxruntime-web/";
const MODEL_DIR = "model/";

let loading = null; // Promise<{classifier, loadMs} | {error}>, settled once per document
let queue = Promise.resolve(); // classify requests, chained so that one runs at a time

/** Bytes of a file of the web bundle, read from the extension's own `model/` folder. */
async function fetchBytes(name) {
  const url = chrome.runtime.getURL(MODEL_DIR + name);
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new Error(`model/${name} is missing from the extension; rebuild it with a model (see README)`);
  }
  if (!response.ok) throw new Error(`model/${name} could not be read (HTTP ${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

async function start() {
  const t0 = performance.now();
  try {
    const ort = await import(`../${ORT_DIR}ort.wasm.bundle.min.mjs`);
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmPaths = { wasm: chrome.runtime.getURL(`${ORT_DIR}ort-wasm-simd-threaded.wasm`) };
    const { loadClassifier } = await import("./classifier.js");
    const classifier = await loadClassifier({ ort, fetchBytes });
    return { classifier, loadMs: performance.now() - t0 };
  } catch (err) {
    console.error("Janitr: the model did not load", err);
    const name = err && err.name && err.name !== "Error" ? `${err.name}: ` : "";
    return { error: `${name}${err && err.message ? err.message : String(err)}` };
  }
}

function load() {
  loading ??= start();
  return loading;
}

/** The model's id for people (janitr-web.json's `id`: the variant and a content hash). */
function modelId(manifest) {
  return (manifest && manifest.id) || null;
}

async function status() {
  const state = await load();
  if (state.error) return { ready: false, error: state.error };
  const manifest = state.classifier.manifest;
  return {
    ready: true,
    modelId: modelId(manifest),
    thresholds: manifest.thresholds || null,
    loadMs: Math.round(state.loadMs),
  };
}

async function classify(texts) {
  const state = await load();
  if (state.error) return { ok: false, error: state.error };
  try {
    const results = await state.classifier.classify(texts);
    return { ok: true, results, modelId: modelId(state.classifier.manifest) };
  } catch (err) {
    return { ok: false, error: `classification failed: ${err && err.message ? err.message : err}` };
  }
}

chrome.runtime.onMessage.addListener((message, _sender, sendResponse) => {
  if (!message || message.target !== "offscreen") return false; // for the service worker
  let work;
  if (message.type === "janitr:classify") {
    work = queue = queue.then(() => classify(message.texts));
  } else if (message.type === "janitr:status") {
    work = status();
  } else {
    return false;
  }
  work.then(sendResponse, (err) => sendResponse({ ok: false, error: String(err) }));
  return true;
});

load(); // start loading now: the first posts arrive soon after

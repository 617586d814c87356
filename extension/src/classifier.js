// Loads a web bundle (written by `janitr export web`) and classifies posts, as
// `janitr.runtime.Classifier` does in Python:
//
//   raw text -> normalize.js -> tokenize.js -> ONNX student (p_scam, p_topic) -> thresholds
//
// Every file is checked against the SHA-256 of janitr-web.json before anything is scored; a
// mismatch throws IntegrityError, and there is no fallback. Runs under Node (the parity
// tests) and in extension pages: the caller imports onnxruntime-web, sets
// `ort.env.wasm.numThreads = 1` and `wasmPaths`, and passes the module in.
import { createNormalizer } from "./normalize.js";
import { createTokenizer } from "./tokenize.js";

export const MANIFEST_FILE = "janitr-web.json";
const FORMAT = "janitr-web";
const FORMAT_VERSION = 1;
/** Most texts per session run; a call with more runs several. */
export const MAX_BATCH = 32;

/** A bundle file does not match the SHA-256 (or size) its manifest records. */
export class IntegrityError extends Error {
  constructor(file, detail) {
    super(`${file}: ${detail}; the model files were altered or are incomplete, re-install Janitr`);
    this.name = "IntegrityError";
    this.file = file;
  }
}

/** janitr-web.json is missing, unreadable or of another format. */
export class BundleFormatError extends Error {
  constructor(message) {
    super(message);
    this.name = "BundleFormatError";
  }
}

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function parseManifest(bytes) {
  let manifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new BundleFormatError(`${MANIFEST_FILE}: unreadable JSON (${err.message})`);
  }
  if (manifest?.format !== FORMAT || manifest?.format_version !== FORMAT_VERSION) {
    throw new BundleFormatError(
      `${MANIFEST_FILE}: expected ${FORMAT} v${FORMAT_VERSION}, found ` +
        `${manifest?.format} v${manifest?.format_version}; re-export with \`janitr export web\``,
    );
  }
  for (const key of ["files", "thresholds", "normalization", "model", "tokenizer"]) {
    if (!manifest[key]) throw new BundleFormatError(`${MANIFEST_FILE}: missing "${key}"`);
  }
  return manifest;
}

/**
 * Load and verify a web bundle.
 * @param {object} args
 * @param {object} args.ort the onnxruntime-web module, already configured by the caller.
 * @param {(name: string) => Promise<Uint8Array>} args.fetchBytes reads a bundle file by name.
 * @param {number} [args.maxBatch] most texts per session run (default MAX_BATCH).
 * @returns {Promise<{manifest: object, classify: Function, normalize: Function,
 *   encode: Function, close: Function}>} `classify(texts)` resolves to one result per text:
 *   `{label: "scam"|"topic_crypto"|"clean", p_scam, p_topic}`, or `{label: null,
 *   p_scam: null, p_topic: null, error}` for a text that is not a string or is empty
 *   after normalization.
 * @throws {IntegrityError} naming the first file whose SHA-256 or size differs.
 * @throws {BundleFormatError} if janitr-web.json is unreadable or of another format.
 */
export async function loadClassifier({ ort, fetchBytes, maxBatch = MAX_BATCH }) {
  const manifest = parseManifest(await fetchBytes(MANIFEST_FILE));
  const files = {};
  for (const [name, entry] of Object.entries(manifest.files)) {
    const bytes = await fetchBytes(name);
    if (bytes.byteLength !== entry.size) {
      throw new IntegrityError(name, `${bytes.byteLength} bytes, the manifest says ${entry.size}`);
    }
    const digest = await sha256Hex(bytes);
    if (digest !== entry.sha256) {
      throw new IntegrityError(name, `SHA-256 ${digest} differs from the manifest's ${entry.sha256}`);
    }
    files[name] = bytes;
  }
  const { model: spec, thresholds } = manifest;
  const modelBytes = files[spec.file];
  const tokenizerBytes = files[manifest.tokenizer.file];
  if (!modelBytes || !tokenizerBytes) {
    throw new BundleFormatError(`${MANIFEST_FILE}: the model or tokenizer file is not listed`);
  }
  const normalize = createNormalizer(manifest.normalization);
  const tokenizer = createTokenizer(JSON.parse(new TextDecoder().decode(tokenizerBytes)), {
    maxLength: spec.max_length,
  });
  const session = await ort.InferenceSession.create(modelBytes, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  const [idsName, maskName] = spec.inputs;
  const [scamName, topicName] = spec.outputs;
  const sameNames = (a, b) => [...a].sort().join() === [...b].sort().join();
  if (!sameNames(session.inputNames, spec.inputs) || !sameNames(session.outputNames, spec.outputs)) {
    throw new BundleFormatError(
      `${spec.file}: inputs ${session.inputNames} / outputs ${session.outputNames}, the manifest ` +
        `says ${spec.inputs} / ${spec.outputs}`,
    );
  }
  const tScam = thresholds.scam;
  const tTopic = thresholds.topic_crypto;
  const padId = BigInt(spec.pad_token_id ?? 0);

  // One padded batch (as janitr.runtime.onnx.pad_encodings): ids padded with [PAD] to the
  // longest row, mask 1 on real tokens.
  async function run(rows) {
    const width = Math.max(...rows.map((r) => r.length));
    const ids = new BigInt64Array(rows.length * width).fill(padId);
    const mask = new BigInt64Array(rows.length * width);
    rows.forEach((row, r) => {
      for (let j = 0; j < row.length; j++) {
        ids[r * width + j] = BigInt(row[j]);
        mask[r * width + j] = 1n;
      }
    });
    const dims = [rows.length, width];
    const out = await session.run({
      [idsName]: new ort.Tensor("int64", ids, dims),
      [maskName]: new ort.Tensor("int64", mask, dims),
    });
    return [out[scamName].data, out[topicName].data];
  }

  async function classifyNow(texts) {
    const results = new Array(texts.length);
    const todo = [];
    texts.forEach((text, i) => {
      if (typeof text !== "string") {
        results[i] = failed(`text ${i} is a ${typeof text}, expected a string`);
        return;
      }
      const norm = normalize(text);
      if (!norm) {
        results[i] = failed(`text ${i} is empty after normalization`);
        return;
      }
      todo.push({ i, ids: tokenizer.encode(norm) });
    });
    for (const batch of similarLengths(todo, maxBatch)) {
      const [pScam, pTopic] = await run(batch.map((t) => t.ids));
      batch.forEach(({ i }, k) => {
        const s = pScam[k];
        const t = pTopic[k];
        // janitr.data.labels.decide
        const label = s >= tScam ? "scam" : t >= tTopic ? "topic_crypto" : "clean";
        results[i] = { label, p_scam: s, p_topic: t };
      });
    }
    return results;
  }

  // onnxruntime-web runs one session call at a time: calls queue behind each other.
  let queue = Promise.resolve();
  function classify(texts) {
    if (!Array.isArray(texts)) return Promise.reject(new TypeError("classify takes an array of texts"));
    const job = queue.then(() => classifyNow(texts));
    queue = job.catch(() => {});
    return job;
  }

  return {
    manifest,
    classify,
    normalize,
    /** Token ids of a normalized text ([CLS] ... [SEP], truncated). */
    encode: (normalized) => tokenizer.encode(normalized),
    close: () => session.release(),
  };
}

/**
 * Cut encoded texts into session runs of similar length. A padded token costs as much as a
 * real one, and one wasm thread gains little from a bigger batch, so a run takes rows only
 * while the longest is at most PAD_SLACK times the shortest. Scores do not depend on the
 * batch (the int8 student is batch-invariant), only the time does.
 */
export const PAD_SLACK = 1.25;
export function similarLengths(todo, maxBatch) {
  const sorted = [...todo].sort((a, b) => a.ids.length - b.ids.length);
  const runs = [];
  for (const row of sorted) {
    const current = runs[runs.length - 1];
    if (current && current.length < maxBatch && row.ids.length <= current[0].ids.length * PAD_SLACK) {
      current.push(row);
    } else {
      runs.push([row]);
    }
  }
  return runs;
}

function failed(error) {
  return { label: null, p_scam: null, p_topic: null, error };
}

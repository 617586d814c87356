#!/usr/bin/env node
// Browser benchmark of the extension's classifier (issue #14, Speed): the web bundle's student
// in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core), side by side
// with native onnxruntime (Python, benchmarks/browser_native.py) on the same posts, same run.
//
//   node benchmarks/browser.mjs --web runs/r1/web --model runs/r1/bundles/student-int8 \
//       --data ../shared/data/janitr [--batch 8] [--posts 1000] [--inferences 10000] \
//       [--probes probes.json] [--sweep sweep.json] [--out benchmarks/results/browser_X.json]
//       [--compare fp32=runs/r1/bundles/student-fp32/model.onnx,uint8=old.onnx]
//
// Reports: model load time (import of onnxruntime-web, SHA-256 checks, session creation);
// per-post latency p50/p95 over --posts real posts at batch 1 and at --batch (the batch's
// time / its posts); JS heap (after gc) and wasm memory before and after --inferences
// batch-1 inferences; the payload (model + wasm + scripts); the CPU model and flags; where a
// batch-1 call's time goes on both sides (whole call, normalization + tokenization, bare
// session.run, interleaved post by post), and with --compare the bare session.run of other
// model files (fp32, another int8 format) on the same ids, natively too: the wasm / native
// ratio per format (docs/LEVERS.md, "In the browser"). The
// page is served from 127.0.0.1 and loads classifier.js as an extension page would
// (onnxruntime-web wasm, one thread, not cross-origin isolated). With --probes/--sweep it
// also checks parity inside Chromium (its own ICU and wasm), as the Node tests do under Node.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..");
const extension = path.join(repo, "extension");
const require = createRequire(path.join(extension, "package.json"));
const { chromium } = require("playwright-core");
const ORT_DIST = path.join(extension, "node_modules", "onnxruntime-web", "dist");
const ORT_MODULE = "ort.wasm.bundle.min.mjs";
const ORT_WASM = "ort-wasm-simd-threaded.wasm";

const { values: opts } = parseArgs({
  options: {
    web: { type: "string" },
    model: { type: "string" },
    data: { type: "string", default: path.join(repo, "..", "shared", "data", "janitr") },
    batch: { type: "string", default: "8" },
    posts: { type: "string", default: "1000" },
    inferences: { type: "string", default: "10000" },
    probes: { type: "string" },
    sweep: { type: "string" },
    out: { type: "string" },
    // name=FILE.onnx,...: other model files whose bare session.run is timed post by post,
    // interleaved with the bundle's, in Chromium and natively (formats side by side).
    compare: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    python: { type: "string", default: path.join(repo, ".venv", "bin", "python") },
  },
});
if (!opts.web || !opts.model) {
  console.error("usage: node benchmarks/browser.mjs --web WEB_DIR --model BUNDLE [--data DIR] ...");
  process.exit(2);
}
const batch = Number(opts.batch);
const nPosts = Number(opts.posts);
const nInferences = Number(opts.inferences);

function realPosts(dataDir, n) {
  const seen = new Set();
  for (const split of ["valid", "calib", "unlabeled"]) {
    const file = path.join(dataDir, `${split}.jsonl`);
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (!line.trim()) continue;
      const text = JSON.parse(line).text;
      if (typeof text === "string" && text.trim()) seen.add(text);
      if (seen.size >= n) return [...seen];
    }
  }
  if (seen.size < n) throw new Error(`${dataDir}: only ${seen.size} posts, --posts ${n}`);
  return [...seen];
}

function cpuInfo() {
  const text = readFileSync("/proc/cpuinfo", "utf8");
  const model = /model name\s*:\s*(.*)/.exec(text)?.[1] ?? os.cpus()[0]?.model;
  const flags = new Set((/flags\s*:\s*(.*)/.exec(text)?.[1] ?? "").split(/\s+/));
  const wanted = ["avx2", "avx512f", "avx512_vnni", "avx_vnni", "fma"];
  return { model, cores: os.cpus().length, flags: Object.fromEntries(wanted.map((f) => [f, flags.has(f)])),
           loadavg: os.loadavg() };
}

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
                ".json": "application/json", ".onnx": "application/octet-stream", ".html": "text/html" };

function serve(routes) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    if (url.pathname === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    if (url.pathname === "/blank.html") {
      // The import map does for "@huggingface/tokenizers" what the extension's build does.
      res.writeHead(200, { "content-type": "text/html" }).end(
        '<!doctype html><title>janitr bench</title><script type="importmap">' +
          '{"imports": {"@huggingface/tokenizers": "/tokenizers/tokenizers.min.mjs"}}</script>',
      );
      return;
    }
    for (const [prefix, dir] of Object.entries(routes)) {
      if (!url.pathname.startsWith(prefix)) continue;
      const file = path.join(dir, decodeURIComponent(url.pathname.slice(prefix.length)));
      if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) break;
      res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
      res.end(readFileSync(file));
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function fileSize(file) {
  return statSync(file).size;
}

function payload(webDir) {
  const model = Object.fromEntries(readdirSync(webDir).map((f) => [f, fileSize(path.join(webDir, f))]));
  const scripts = {};
  for (const f of readdirSync(path.join(extension, "src"))) {
    if (f.endsWith(".js") || f.endsWith(".mjs")) scripts[`src/${f}`] = fileSize(path.join(extension, "src", f));
  }
  const tok = path.join(extension, "node_modules", "@huggingface", "tokenizers", "dist", "tokenizers.min.mjs");
  scripts["vendor/tokenizers.min.mjs"] = fileSize(tok);
  const ort = { [ORT_MODULE]: fileSize(path.join(ORT_DIST, ORT_MODULE)), [ORT_WASM]: fileSize(path.join(ORT_DIST, ORT_WASM)) };
  const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0);
  return { model, onnxruntime_web: ort, scripts, total_bytes: sum(model) + sum(ort) + sum(scripts) };
}

// --- inside the page -------------------------------------------------------------------------

async function pageBench({ ortModule, ortWasm, texts, batch, nInferences, compare }) {
  // Capture every wasm memory onnxruntime creates, to report its size.
  const memories = [];
  const NativeMemory = WebAssembly.Memory;
  WebAssembly.Memory = new Proxy(NativeMemory, {
    construct(target, args) {
      const m = new target(...args);
      memories.push(m);
      return m;
    },
  });
  for (const name of ["instantiate", "instantiateStreaming"]) {
    const original = WebAssembly[name];
    WebAssembly[name] = async function (...args) {
      const result = await original.apply(this, args);
      const instance = result.instance ?? result;
      for (const v of Object.values(instance.exports ?? {})) if (v instanceof NativeMemory) memories.push(v);
      return result;
    };
  }
  const memory = () => {
    globalThis.gc?.();
    return {
      js_heap_bytes: performance.memory?.usedJSHeapSize ?? null,
      wasm_bytes: [...new Set(memories)].reduce((a, m) => a + m.buffer.byteLength, 0),
    };
  };
  const t0 = performance.now();
  const ort = await import(ortModule);
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = { wasm: ortWasm };
  const { loadClassifier } = await import("/src/classifier.js");
  const fetchBytes = async (name) => new Uint8Array(await (await fetch(`/model/${name}`)).arrayBuffer());
  const clf = await loadClassifier({ ort, fetchBytes });
  const loadMs = performance.now() - t0;

  const pct = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const at = (q) => s[Math.min(s.length - 1, Math.round(q * (s.length - 1)))];
    return { p50: at(0.5), p95: at(0.95), mean: s.reduce((a, b) => a + b, 0) / s.length, n: s.length };
  };
  for (const text of texts.slice(0, 50)) await clf.classify([text]); // warm-up
  const single = [];
  for (const text of texts) {
    const t = performance.now();
    await clf.classify([text]);
    single.push(performance.now() - t);
  }
  const batched = [];
  for (let i = 0; i + batch <= texts.length; i += batch) {
    const t = performance.now();
    await clf.classify(texts.slice(i, i + batch));
    batched.push((performance.now() - t) / batch);
  }
  // Where a batch-1 call's time goes, interleaved post by post so that the load is the same:
  // the whole classify call, normalization + tokenization (JS), and a bare session.run of a
  // second session on the same ids (no padding, no queue, no decision).
  const bare = await ort.InferenceSession.create(await fetchBytes(clf.manifest.model.file), {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  const [idsName, maskName] = clf.manifest.model.inputs;
  const others = {};
  for (const name of compare) {
    const bytes = new Uint8Array(await (await fetch(`/compare/${name}.onnx`)).arrayBuffer());
    others[name] = { session: await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"],
                                                                        graphOptimizationLevel: "all" }),
                     ms: [] };
  }
  const encodeMs = [];
  const runMs = [];
  const callMs = [];
  for (const text of texts) {
    let t = performance.now();
    await clf.classify([text]);
    callMs.push(performance.now() - t);
    t = performance.now();
    const ids = clf.encode(clf.normalize(text));
    encodeMs.push(performance.now() - t);
    const feeds = {
      [idsName]: new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]),
      [maskName]: new ort.Tensor("int64", new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
    };
    t = performance.now();
    await bare.run(feeds);
    runMs.push(performance.now() - t);
    for (const other of Object.values(others)) {
      t = performance.now();
      await other.session.run(feeds);
      other.ms.push(performance.now() - t);
    }
  }
  await bare.release();
  for (const other of Object.values(others)) await other.session.release();
  const before = memory();
  for (let i = 0; i < nInferences; i++) await clf.classify([texts[i % texts.length]]);
  const after = memory();
  return {
    model_id: clf.manifest.id,
    crossOriginIsolated: globalThis.crossOriginIsolated,
    load_ms: loadMs,
    batch1_ms_per_post: pct(single),
    [`batch${batch}_ms_per_post`]: pct(batched),
    batch1_breakdown_ms: { classify: pct(callMs), normalize_tokenize: pct(encodeMs), session_run: pct(runMs) },
    session_run_batch1_ms: Object.fromEntries(Object.entries(others).map(([k, v]) => [k, pct(v.ms)])),
    memory: { inferences: nInferences, before, after,
              growth_bytes: (after.js_heap_bytes ?? 0) - (before.js_heap_bytes ?? 0) + after.wasm_bytes - before.wasm_bytes },
  };
}

async function pageParity({ ortModule, ortWasm, probesUrl, sweepUrl }) {
  const { loadClassifier } = await import("/src/classifier.js");
  const { createNormalizer } = await import("/src/normalize.js");
  const ort = await import(ortModule);
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = { wasm: ortWasm };
  const out = {};
  if (probesUrl) {
    const clf = await loadClassifier({ ort, fetchBytes: async (n) => new Uint8Array(await (await fetch(`/model/${n}`)).arrayBuffer()) });
    const { probes } = await (await fetch(probesUrl)).json();
    let norm = 0, ids = 0, agree = 0, scored = 0;
    const maxDelta = { p_scam: 0, p_topic: 0 };
    for (const p of probes) {
      const n = clf.normalize(p.raw);
      if (n !== p.normalized) { norm++; continue; }
      if (p.ids === null) continue;
      if (clf.encode(n).join() !== p.ids.join()) ids++;
      const [r] = await clf.classify([p.raw]);
      scored++;
      if (r.label === p.label) agree++;
      for (const h of ["p_scam", "p_topic"]) maxDelta[h] = Math.max(maxDelta[h], Math.abs(r[h] - p[h]));
    }
    out.probes = { probes: probes.length, scored, normalization_mismatches: norm, ids_mismatches: ids,
                   max_abs_delta: maxDelta, decision_agreement: agree / scored };
  }
  if (sweepUrl) {
    const doc = await (await fetch(sweepUrl)).json();
    const chars = doc.codepoints.map((c) => String.fromCodePoint(c));
    let checked = 0, bad = 0;
    const examples = [];
    for (const { normalization, context, outputs } of doc.cases) {
      const normalize = createNormalizer(normalization);
      const [a, b] = context.split("{c}");
      chars.forEach((c, i) => {
        checked++;
        const got = normalize(a + c + b);
        if (got !== outputs[i]) { bad++; if (examples.length < 5) examples.push({ context, cp: doc.codepoints[i], got, want: outputs[i] }); }
      });
    }
    out.sweep = { unicode_version_python: doc.unicode_version, checked, mismatches: bad, examples };
  }
  return out;
}

// --- main --------------------------------------------------------------------------------------

const texts = realPosts(opts.data, nPosts);
const tmp = mkdtempSync(path.join(os.tmpdir(), "janitr-bench-"));
const textsFile = path.join(tmp, "texts.json");
writeFileSync(textsFile, JSON.stringify(texts));

console.error(`native: ${texts.length} posts through Python onnxruntime ...`);
const compare = Object.fromEntries((opts.compare ?? "").split(",").filter(Boolean).map((kv) => {
  const [name, file] = kv.split("=");
  return [name, path.resolve(file)];
}));
const compareArgs = Object.keys(compare).length
  ? ["--compare", Object.entries(compare).map(([k, v]) => `${k}=${v}`).join(",")] : [];
const native = JSON.parse(execFileSync(opts.python, [path.join(here, "browser_native.py"), "--model", opts.model,
  "--texts", textsFile, "--batch-size", String(batch), ...compareArgs], { encoding: "utf8", env: { ...process.env, PYTHONPATH: path.join(repo, "src") } }));

const webDir = path.resolve(opts.web);
const fixtures = {};
if (opts.probes) fixtures["probes.json"] = path.resolve(opts.probes);
if (opts.sweep) fixtures["sweep.json"] = path.resolve(opts.sweep);
const routes = { "/src/": path.join(extension, "src"), "/ort/": ORT_DIST, "/model/": webDir,
                 "/tokenizers/": path.join(extension, "node_modules", "@huggingface", "tokenizers", "dist") };
const compareDir = path.join(tmp, "compare");
if (Object.keys(compare).length) {
  mkdirSync(compareDir);
  for (const [name, file] of Object.entries(compare)) copyFileSync(file, path.join(compareDir, `${name}.onnx`));
  routes["/compare/"] = compareDir;
}
for (const [name, file] of Object.entries(fixtures)) routes[`/fixtures/${name.replace(".json", "")}/`] = path.dirname(file);
const server = await serve(routes);
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({
  executablePath: opts.chromium,
  headless: true,
  args: ["--no-sandbox", "--enable-precise-memory-info", "--js-flags=--expose-gc"],
});
let result;
try {
  const page = await browser.newPage();
  page.on("console", (msg) => msg.type() === "error" && console.error(`page: ${msg.text()}`));
  await page.goto(`${base}/blank.html`);
  console.error(`browser: ${texts.length} posts, then ${nInferences} inferences, in Chromium ${browser.version()} ...`);
  const bench = await page.evaluate(pageBench, { ortModule: `/ort/${ORT_MODULE}`, ortWasm: `${base}/ort/${ORT_WASM}`,
                                                texts, batch, nInferences, compare: Object.keys(compare) });
  let parity = null;
  if (opts.probes || opts.sweep) {
    const parityPage = await browser.newPage();
    await parityPage.goto(`${base}/blank.html`);
    console.error("browser: parity checks ...");
    parity = await parityPage.evaluate(pageParity, {
      ortModule: `/ort/${ORT_MODULE}`,
      ortWasm: `${base}/ort/${ORT_WASM}`,
      probesUrl: opts.probes ? `/fixtures/probes/${path.basename(opts.probes)}` : null,
      sweepUrl: opts.sweep ? `/fixtures/sweep/${path.basename(opts.sweep)}` : null,
    });
  }
  const bKey = `batch${batch}_ms_per_post`;
  result = {
    date: new Date().toISOString(),
    command: `node benchmarks/browser.mjs ${process.argv.slice(2).join(" ")}`,
    model: { web: webDir, bundle: path.resolve(opts.model), id: bench.model_id },
    cpu: cpuInfo(),
    chromium: browser.version(),
    onnxruntime_web: JSON.parse(readFileSync(path.join(ORT_DIST, "..", "package.json"), "utf8")).version,
    posts: texts.length,
    content_script_batch: batch,
    browser: bench,
    native,
    ratio_browser_over_native_p50: {
      batch1: bench.batch1_ms_per_post.p50 / native.batch1_ms_per_post.p50,
      [`batch${batch}`]: bench[bKey].p50 / native[bKey].p50,
      // The model alone (batch 1, interleaved): what the wasm kernels cost against native ones.
      session_run_batch1: bench.batch1_breakdown_ms.session_run.p50 / native.batch1_breakdown_ms.session_run.p50,
      ...Object.fromEntries(Object.keys(compare).map((k) => [`session_run_batch1 ${k}`,
        bench.session_run_batch1_ms[k].p50 / native.session_run_batch1_ms[k].p50])),
    },
    payload: payload(webDir),
    parity_in_chromium: parity,
    targets: { "browser p50 <= 2x native p50": bench.batch1_ms_per_post.p50 <= 2 * native.batch1_ms_per_post.p50,
               "browser p50 <= 8 ms": bench.batch1_ms_per_post.p50 <= 8,
               "browser p95 <= 20 ms": bench.batch1_ms_per_post.p95 <= 20,
               "load <= 1 s": bench.load_ms <= 1000,
               "memory growth <= 5 MB over 10,000 inferences": bench.memory.growth_bytes <= 5e6 },
  };
} finally {
  await browser.close();
  server.close();
  rmSync(tmp, { recursive: true, force: true });
}
const out = opts.out ?? path.join(repo, "benchmarks", "results", `browser_${result.model.id.split("-").slice(0, 2).join("-")}.json`);
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
const f = (x) => x.toFixed(2);
console.log(`${result.model.id} on ${result.cpu.model} (avx512_vnni ${result.cpu.flags.avx512_vnni}), Chromium ${result.chromium}`);
console.log(`load ${f(result.browser.load_ms)} ms (native ${f(native.load_seconds * 1e3)} ms)`);
for (const key of ["batch1_ms_per_post", `batch${batch}_ms_per_post`]) {
  console.log(`${key}: browser p50 ${f(result.browser[key].p50)} p95 ${f(result.browser[key].p95)} | native p50 ${f(native[key].p50)} p95 ${f(native[key].p95)}`);
}
const brk = (b) => Object.entries(b ?? {}).map(([k, v]) => `${k} ${f(v.p50)}`).join(", ");
console.log(`batch 1 p50 ms, interleaved: browser ${brk(result.browser.batch1_breakdown_ms)} | ` +
            `native ${brk(native.batch1_breakdown_ms)}`);
for (const k of Object.keys(compare)) {
  console.log(`session_run batch 1 p50 ms, ${k}: browser ${f(result.browser.session_run_batch1_ms[k].p50)} | ` +
              `native ${f(native.session_run_batch1_ms[k].p50)}`);
}
console.log(`memory over ${nInferences}: ${JSON.stringify(result.browser.memory)}`);
console.log(`payload ${(result.payload.total_bytes / 1e6).toFixed(2)} MB; targets ${JSON.stringify(result.targets)}`);
if (result.parity_in_chromium) console.log(`parity in Chromium: ${JSON.stringify(result.parity_in_chromium)}`);
console.log(`wrote ${out}`);

#!/usr/bin/env node
// Build the unpacked extension: `node scripts/build.mjs --model DIR [--out dist]`.
//
// A copy step, no bundler: manifest.json, src/ and icons/ as they are, the two onnxruntime-web files
// the offscreen document loads (the single-file ESM build and its wasm), the tokenizer library,
// and the web bundle that `janitr export web` wrote (DIR: janitr-web.json plus the files it
// names) into dist/model/. The one rewrite: the bare import of `@huggingface/tokenizers`
// (resolved by Node in tests) becomes a relative path to the vendored copy, because extension
// pages have no module resolution. dist/ is what chrome://extensions -> Load unpacked takes.
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const MANIFEST = "janitr-web.json";
/** node_modules file -> where it goes in dist/. */
const VENDOR = {
  "onnxruntime-web/dist/ort.wasm.bundle.min.mjs": "vendor/onnxruntime-web/ort.wasm.bundle.min.mjs",
  "onnxruntime-web/dist/ort-wasm-simd-threaded.wasm": "vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm",
  "@huggingface/tokenizers/dist/tokenizers.min.mjs": "vendor/tokenizers/tokenizers.min.mjs",
  "@huggingface/tokenizers/LICENSE": "vendor/tokenizers/LICENSE",
};
const BARE_IMPORTS = { "@huggingface/tokenizers": "vendor/tokenizers/tokenizers.min.mjs" };

class BuildError extends Error {}

/** The files of the web bundle in `dir`, checked the way the extension will check them. */
function readWebBundle(dir) {
  const manifestPath = join(dir, MANIFEST);
  if (!existsSync(manifestPath)) {
    throw new BuildError(
      `${manifestPath} not found: --model takes the folder written by ` +
        "`janitr export web --model runs/NAME/bundles/student-int8 --out DIR`",
    );
  }
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  } catch (err) {
    throw new BuildError(`${manifestPath} is not valid JSON (${err.message}); export the bundle again`);
  }
  const files = manifest.files;
  if (!files || typeof files !== "object" || Object.keys(files).length === 0) {
    throw new BuildError(`${manifestPath} names no files ("files" is empty); export the bundle again`);
  }
  for (const [name, entry] of Object.entries(files)) {
    const path = join(dir, name);
    if (!existsSync(path)) throw new BuildError(`${path} is missing (named in ${MANIFEST}); export the bundle again`);
    const expected = typeof entry === "string" ? entry : entry && entry.sha256;
    const actual = createHash("sha256").update(readFileSync(path)).digest("hex");
    if (expected !== actual) {
      throw new BuildError(`${path}: SHA-256 ${actual} differs from ${MANIFEST} (${expected}); export the bundle again`);
    }
  }
  return [MANIFEST, ...Object.keys(files)];
}

function rewriteImports(file) {
  let text = readFileSync(file, "utf8");
  for (const [bare, target] of Object.entries(BARE_IMPORTS)) {
    const rel = relative(dirname(file), join(dirname(file), "..", target)).split("\\").join("/");
    text = text.replaceAll(`from "${bare}"`, `from "${rel}"`).replaceAll(`from '${bare}'`, `from '${rel}'`);
  }
  writeFileSync(file, text);
}

function size(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, name) => sum + size(join(path, name)), 0);
}

/**
 * Build the extension into `out` from the web bundle in `model`.
 *
 * @param {{model: string, out?: string}} options
 * @returns {{out: string, bytes: number}}
 * @throws {BuildError} if the web bundle is missing, incomplete or does not match its sums.
 */
export function build({ model, out = join(ROOT, "dist") }) {
  if (!model) throw new BuildError("--model DIR is required (the folder written by `janitr export web`)");
  const modelFiles = readWebBundle(resolve(model));
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  cpSync(join(ROOT, "manifest.json"), join(out, "manifest.json"));
  cpSync(join(ROOT, "src"), join(out, "src"), { recursive: true });
  cpSync(join(ROOT, "icons"), join(out, "icons"), { recursive: true });
  for (const name of readdirSync(join(out, "src"))) {
    if (name.endsWith(".js")) rewriteImports(join(out, "src", name));
  }
  for (const [from, to] of Object.entries(VENDOR)) {
    const src = join(ROOT, "node_modules", from);
    if (!existsSync(src)) throw new BuildError(`${src} is missing: run \`npm ci\` in extension/ first`);
    mkdirSync(dirname(join(out, to)), { recursive: true });
    cpSync(src, join(out, to));
  }
  mkdirSync(join(out, "model"), { recursive: true });
  for (const name of modelFiles) cpSync(join(resolve(model), name), join(out, "model", name));
  return { out, bytes: size(out) };
}

function main() {
  const { values } = parseArgs({
    options: { model: { type: "string" }, out: { type: "string" } },
    allowPositionals: false,
  });
  try {
    const { out, bytes } = build({ model: values.model, out: values.out && resolve(values.out) });
    console.log(`built ${out} (${(bytes / 1e6).toFixed(1)} MB): chrome://extensions -> Developer mode -> Load unpacked`);
  } catch (err) {
    if (!(err instanceof BuildError)) throw err;
    console.error(`error: ${err.message}`);
    process.exit(1);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();

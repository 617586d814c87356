// scripts/build.mjs: what it copies must be a loadable extension (every file the manifest and
// the modules name is there, the bare tokenizer import is rewritten), and it refuses a web
// bundle it could not vouch for, with a message that says what to do.
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { build } from "../scripts/build.mjs";
import { generated } from "./fixtures.mjs";

const scratch = mkdtempSync(path.join(tmpdir(), "janitr-build-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function copyOfBundle(name) {
  const dir = path.join(scratch, name);
  cpSync(generated("int8"), dir, { recursive: true });
  return dir;
}

test("the build holds every file the manifest, the pages and the modules name", () => {
  const out = path.join(scratch, "dist");
  build({ model: generated("int8"), out });
  const manifest = JSON.parse(readFileSync(path.join(out, "manifest.json"), "utf8"));
  const named = [
    manifest.background.service_worker,
    ...manifest.content_scripts.flatMap((c) => [...c.js, ...c.css]),
    manifest.action.default_popup,
    manifest.options_ui.page,
    ...Object.values(manifest.icons),
    ...Object.values(manifest.action.default_icon),
  ];
  for (const file of named) assert.ok(existsSync(path.join(out, file)), `${file} is named in manifest.json but missing`);
  // Relative imports and page scripts resolve inside dist/ (no bare specifier is left).
  const src = path.join(out, "src");
  for (const name of readdirSync(src)) {
    const text = readFileSync(path.join(src, name), "utf8");
    const imports = [...text.matchAll(/(?:from|import)\s*\(?\s*["'`]([^"'`$]+)["'`]/g)].map((m) => m[1]);
    for (const ref of imports) {
      assert.ok(ref.startsWith("."), `${name} imports "${ref}", which an extension page cannot resolve`);
    }
    const pageRefs = [...text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    for (const ref of [...imports, ...pageRefs]) {
      assert.ok(existsSync(path.resolve(src, ref)), `${name} refers to ${ref}, missing from the build`);
    }
  }
  for (const file of ["ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm"]) {
    assert.ok(existsSync(path.join(out, "vendor/onnxruntime-web", file)), file);
  }
  const web = JSON.parse(readFileSync(path.join(out, "model/janitr-web.json"), "utf8"));
  for (const name of Object.keys(web.files)) assert.ok(existsSync(path.join(out, "model", name)), name);
  assert.ok(!existsSync(path.join(out, "model", "seen_data.json")));
});

test("the build refuses a folder that is not a web bundle", () => {
  assert.throws(() => build({ model: scratch, out: path.join(scratch, "x") }), /janitr-web\.json not found.*janitr export web/);
});

test("the build refuses a web bundle whose file does not match its SHA-256", () => {
  const dir = copyOfBundle("tampered");
  const file = path.join(dir, "tokenizer.json");
  writeFileSync(file, readFileSync(file, "utf8").replace("[UNK]", "[UNX]"));
  assert.throws(() => build({ model: dir, out: path.join(scratch, "y") }), /tokenizer\.json: SHA-256 \w+ differs/);
});

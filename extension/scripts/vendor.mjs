// Copies the third-party ES modules that src/ imports by relative path into src/vendor/
// (git-ignored), so the same files run under Node and in extension pages, where bare
// specifiers like "@huggingface/tokenizers" do not resolve. Runs after `npm ci`.
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const VENDORED = {
  "tokenizers.mjs": "node_modules/@huggingface/tokenizers/dist/tokenizers.min.mjs",
};

mkdirSync(path.join(root, "src", "vendor"), { recursive: true });
for (const [name, source] of Object.entries(VENDORED)) {
  copyFileSync(path.join(root, source), path.join(root, "src", "vendor", name));
}

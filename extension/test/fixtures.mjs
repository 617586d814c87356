// Where the parity fixtures are. The small ones are committed (test/fixtures/); the large
// ones (code point sweep, web bundles, probe files) are written by Python at test time
// (`make extension-fixtures`) into JANITR_WEB_FIXTURES, by default ../runs/web-fixtures.
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const COMMITTED = path.join(here, "fixtures");
export const GENERATED = path.resolve(
  process.env.JANITR_WEB_FIXTURES ?? path.join(here, "..", "..", "runs", "web-fixtures"),
);

/** Path of a generated fixture; throws, naming the command that writes it, if absent. */
export function generated(name) {
  const file = path.join(GENERATED, name);
  if (!existsSync(file)) {
    throw new Error(
      `${file} is missing: run \`make extension-fixtures\` (or set JANITR_WEB_FIXTURES)`,
    );
  }
  return file;
}

export function readJson(file) {
  return JSON.parse(readFileSync(file, "utf8"));
}

/** fetchBytes for loadClassifier over a web bundle directory. */
export function dirFetcher(dir) {
  return async (name) => new Uint8Array(await readFile(path.join(dir, name)));
}

// normalize.js against Python's janitr.data.normalize: pinned cases (committed) and every
// assigned code point in a few contexts, for each normalization setting (generated).
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";

import { createNormalizer } from "../src/normalize.js";
import { COMMITTED, generated, readJson } from "./fixtures.mjs";

function mismatches(normalize, inputs, expected, limit = 5) {
  const bad = [];
  for (let i = 0; i < inputs.length; i++) {
    const got = normalize(inputs[i]);
    if (got !== expected[i]) {
      bad.push({ input: inputs[i], expected: expected[i], got });
      if (bad.length >= limit) break;
    }
  }
  return bad;
}

test("pinned cases match Python", () => {
  const doc = readJson(path.join(COMMITTED, "normalize_cases.json"));
  assert.ok(doc.inputs.length >= 40 && doc.cases.length === 4);
  for (const { settings, outputs } of doc.cases) {
    const normalize = createNormalizer({ ...doc.normalization, ...settings });
    assert.deepEqual(mismatches(normalize, doc.inputs, outputs), [], JSON.stringify(settings));
  }
});

test("every assigned code point, in every context and setting, matches Python", () => {
  const doc = readJson(generated("sweep.json"));
  const chars = doc.codepoints.map((cp) => String.fromCodePoint(cp));
  assert.ok(chars.length > 140000, `only ${chars.length} code points`);
  const failures = [];
  for (const { normalization, context, outputs } of doc.cases) {
    const normalize = createNormalizer(normalization);
    const [before, after] = context.split("{c}");
    const inputs = chars.map((c) => before + c + after);
    const settings = { strip_urls: normalization.strip_urls, fold: normalization.fold_confusables };
    for (const bad of mismatches(normalize, inputs, outputs)) failures.push({ context, settings, ...bad });
  }
  assert.deepEqual(failures, []);
});

test("a config without the Unicode data is refused", () => {
  assert.throws(() => createNormalizer({ strip_urls: false }), /re-export/);
});

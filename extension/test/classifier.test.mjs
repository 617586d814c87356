// classifier.js against the Python runtime on the probe files of `janitr export probes`:
// normalization and token ids exactly, probabilities within tolerance at batch size 1,
// decisions agreeing; batch-mates, integrity errors and empty texts.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

import * as ort from "onnxruntime-web";

import { IntegrityError, PAD_SLACK, loadClassifier, similarLengths } from "../src/classifier.js";
import { GENERATED, dirFetcher, generated, readJson } from "./fixtures.mjs";

ort.env.wasm.numThreads = 1;
ort.env.logLevel = "error";

const TOLERANCE = { fp32: 1e-5, int8: 5e-3 };
const MIN_AGREEMENT = 0.995;

function bundleDir(precision) {
  return path.dirname(generated(path.join(precision, "janitr-web.json")));
}

for (const precision of ["fp32", "int8"]) {
  test(`${precision}: parity with the Python runtime on every probe`, async () => {
    const probes = readJson(generated(`probes-${precision}.json`)).probes;
    assert.ok(probes.length >= 2000, `only ${probes.length} probes`);
    const clf = await loadClassifier({ ort, fetchBytes: dirFetcher(bundleDir(precision)) });
    let normMismatch = 0;
    let idsMismatch = 0;
    let agree = 0;
    let scored = 0;
    const maxDelta = { p_scam: 0, p_topic: 0 };
    const firstBad = [];
    for (const probe of probes) {
      const norm = clf.normalize(probe.raw);
      if (norm !== probe.normalized) {
        normMismatch++;
        if (firstBad.length < 3) firstBad.push({ raw: probe.raw.slice(0, 80), norm, want: probe.normalized });
        continue;
      }
      const [result] = await clf.classify([probe.raw]); // batch size 1, as the probes
      if (probe.ids === null) {
        assert.equal(result.label, null);
        assert.match(result.error, /empty after normalization/);
        continue;
      }
      const ids = clf.encode(norm);
      if (ids.join() !== probe.ids.join()) {
        idsMismatch++;
        if (firstBad.length < 3) firstBad.push({ norm: norm.slice(0, 80), ids, want: probe.ids });
      }
      scored++;
      for (const head of ["p_scam", "p_topic"]) {
        maxDelta[head] = Math.max(maxDelta[head], Math.abs(result[head] - probe[head]));
      }
      if (result.label === probe.label) agree++;
    }
    const summary = {
      precision,
      model: clf.manifest.id,
      probes: probes.length,
      scored,
      normalization_mismatches: normMismatch,
      ids_mismatches: idsMismatch,
      max_abs_delta: maxDelta,
      decision_agreement: agree / scored,
    };
    writeFileSync(path.join(GENERATED, `parity-${precision}.json`), `${JSON.stringify(summary, null, 2)}\n`);
    console.log(JSON.stringify(summary));
    await clf.close();
    assert.deepEqual(firstBad, []);
    assert.equal(normMismatch, 0);
    assert.equal(idsMismatch, 0);
    assert.ok(maxDelta.p_scam <= TOLERANCE[precision], `max |dp_scam| ${maxDelta.p_scam}`);
    assert.ok(maxDelta.p_topic <= TOLERANCE[precision], `max |dp_topic| ${maxDelta.p_topic}`);
    assert.ok(summary.decision_agreement >= MIN_AGREEMENT, `agreement ${summary.decision_agreement}`);
  });
}

test("fp32: a post's scores do not depend on its batch-mates", async () => {
  const probes = readJson(generated("probes-fp32.json")).probes.filter((p) => p.ids !== null);
  const clf = await loadClassifier({ ort, fetchBytes: dirFetcher(bundleDir("fp32")) });
  // Short and long texts mixed, so most rows are padded; 4 different groupings.
  const texts = probes.slice(0, 96).map((p) => p.raw);
  const alone = [];
  for (const text of texts) alone.push((await clf.classify([text]))[0]);
  let worst = 0;
  for (const size of [2, 7, 16, 32]) {
    for (let start = 0; start < texts.length; start += size) {
      const group = texts.slice(start, start + size).reverse();
      const results = await clf.classify(group);
      results.reverse().forEach((r, k) => {
        const a = alone[start + k];
        worst = Math.max(worst, Math.abs(r.p_scam - a.p_scam), Math.abs(r.p_topic - a.p_topic));
        assert.equal(r.label, a.label);
      });
    }
  }
  await clf.close();
  console.log(JSON.stringify({ model: clf.manifest.id, batch_mates_max_abs_delta: worst }));
  assert.ok(worst <= 1e-6, `batch-mates change a score by ${worst}`);
});

test("empty and non-string texts get label null and an error; the others are scored", async () => {
  const clf = await loadClassifier({ ort, fetchBytes: dirFetcher(bundleDir("int8")) });
  const results = await clf.classify(["", " \u200b\t", 42, "claim your free airdrop now"]);
  assert.deepEqual(results.slice(0, 3).map((r) => r.label), [null, null, null]);
  assert.match(results[0].error, /text 0 is empty after normalization/);
  assert.match(results[2].error, /text 2 is a number/);
  assert.ok(["scam", "topic_crypto", "clean"].includes(results[3].label));
  assert.ok(results[3].p_scam >= 0 && results[3].p_scam <= 1);
  assert.deepEqual(await clf.classify([]), []);
  await clf.close();
});

for (const file of ["model.onnx", "tokenizer.json"]) {
  test(`a changed byte in ${file} throws IntegrityError naming it`, async () => {
    const fetchBytes = dirFetcher(bundleDir("int8"));
    const tampered = async (name) => {
      const bytes = await fetchBytes(name);
      if (name === file) bytes[bytes.length >> 1] ^= 1;
      return bytes;
    };
    await assert.rejects(loadClassifier({ ort, fetchBytes: tampered }), (err) => {
      assert.ok(err instanceof IntegrityError);
      assert.equal(err.file, file);
      assert.match(err.message, /SHA-256/);
      return true;
    });
  });
}

test("a truncated file and a manifest of another format are refused", async () => {
  const fetchBytes = dirFetcher(bundleDir("int8"));
  const truncated = async (name) => {
    const bytes = await fetchBytes(name);
    return name === "model.onnx" ? bytes.slice(0, 100) : bytes;
  };
  await assert.rejects(loadClassifier({ ort, fetchBytes: truncated }), (err) => {
    assert.ok(err instanceof IntegrityError);
    return err.file === "model.onnx" && /100 bytes/.test(err.message);
  });
  const otherFormat = async (name) =>
    name === "janitr-web.json" ? new TextEncoder().encode('{"format": "janitr-bundle"}') : fetchBytes(name);
  await assert.rejects(loadClassifier({ ort, fetchBytes: otherFormat }), /expected janitr-web v1/);
});

test("session runs group similar lengths: every row once, longest <= PAD_SLACK x shortest", () => {
  const lengths = [3, 40, 4, 5, 96, 41, 3, 50, 12, 13, 14, 15, 16, 17, 18, 19, 20, 5];
  const rows = lengths.map((n, i) => ({ i, ids: new Array(n).fill(7) }));
  const runs = similarLengths(rows, 4);
  assert.deepEqual(runs.flat().map((r) => r.i).sort((a, b) => a - b), rows.map((r) => r.i));
  for (const run of runs) {
    const sizes = run.map((r) => r.ids.length);
    assert.ok(run.length <= 4, `a run of ${run.length} rows`);
    assert.ok(Math.max(...sizes) <= Math.min(...sizes) * PAD_SLACK, `a run mixes lengths ${sizes}`);
  }
  assert.deepEqual(runs.map((run) => run.map((r) => r.ids.length)), [[3, 3], [4, 5, 5], [12, 13, 14, 15], [16, 17, 18, 19], [20], [40, 41, 50], [96]]);
});

// The port of `janitr.data.normalize` (Python), bit for bit, and nothing else.
//
//   NFKC, zero-width characters removed, URLs replaced by a space (strip_urls), lower-case,
//   NFKC and zero-width removal again, whitespace runs collapsed to one space, trimmed;
//   with fold_confusables, confusables mapped to ASCII, canonical decomposition (NFD) with the
//   combining diacritical marks removed, and all of it again to a fixed point.
//
// Where JavaScript and Python differ, this file follows Python:
// - Whitespace is Python's `str.isspace` set (it has U+001C..U+001F and U+0085, which JS `\s`
//   lacks; JS `\s` has U+FEFF, which Python's lacks).
// - The URL pattern `https?://\S+|www\.\S+` (re.IGNORECASE) uses that same set for `\S`.
// - Unicode version: the browser's Unicode data is newer than the Python that trained the
//   model. Python's NFKC and str.lower leave a character its `unicodedata` does not assign
//   unchanged, and such a character blocks composition and is neither cased nor
//   case-ignorable there. So NFKC and toLowerCase run on the runs of characters Python
//   assigns (the `assigned` ranges of the web manifest), and every other character is copied
//   as it is: exactly Python's result on the same text.
// - The confusables table comes from the manifest (written by Python), not re-derived.
//
// The normalization entry of janitr-web.json (`janitr.runtime.web.web_normalization`) is
// the only configuration: { strip_urls, fold_confusables, zero_width, unicode_version,
// assigned: [[lo, hi], ...], sigma: { cased, case_ignorable }, confusables?: { "cp": "ascii" },
// combining_marks?: [[lo, hi], ...] }.

// Python's str.isspace() (bidirectional class WS, B or S, or category Zs); the sweep test
// checks it on every code point.
const WS = "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WS_RUNS = new RegExp(`[${WS}]+`, "gu");
const URL_RE = new RegExp(`https?://[^${WS}]+|www\\.[^${WS}]+`, "giu");
const ASCII = /^[\x00-\x7f]*$/;
// janitr.data.normalize folds confusables to a fixed point in at most this many rounds.
const FOLD_ROUNDS = 8;

/** Membership test of inclusive `[lo, hi]` code point ranges (sorted): a binary search. */
function rangeSet(ranges) {
  const starts = Int32Array.from(ranges, (r) => r[0]);
  const ends = Int32Array.from(ranges, (r) => r[1]);
  return function has(cp) {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (cp < starts[mid]) hi = mid - 1;
      else if (cp > ends[mid]) lo = mid + 1;
      else return true;
    }
    return false;
  };
}

/**
 * Build the normalize function of a web manifest's `normalization` entry.
 * @param {object} config the manifest's `normalization` object.
 * @returns {(text: string) => string}
 */
export function createNormalizer(config) {
  if (!config || !Array.isArray(config.assigned) || !Array.isArray(config.zero_width)) {
    throw new Error(
      "normalization config lacks `assigned`/`zero_width`; re-export the model with `janitr export web`",
    );
  }
  const stripUrls = Boolean(config.strip_urls);
  const fold = Boolean(config.fold_confusables);
  if (fold && !config.confusables) {
    throw new Error("fold_confusables is on but the manifest has no confusables table");
  }
  const zeroWidth = new RegExp(
    `[${config.zero_width.map((c) => `\\u{${c.toString(16)}}`).join("")}]`,
    "gu",
  );
  if (!config.sigma) {
    throw new Error("normalization config lacks `sigma`; re-export the model with `janitr export web`");
  }
  const known = rangeSet(config.assigned);
  const cased = rangeSet(config.sigma.cased);
  const caseIgnorable = rangeSet(config.sigma.case_ignorable);
  const table = fold ? new Map(Object.entries(config.confusables).map(([k, v]) => [Number(k), v])) : null;
  if (fold && !Array.isArray(config.combining_marks)) {
    throw new Error("fold_confusables is on but the manifest has no `combining_marks`; re-export the model with `janitr export web`");
  }
  const marks = fold
    ? new RegExp(`[${config.combining_marks.map(([lo, hi]) => `\\u{${lo.toString(16)}}-\\u{${hi.toString(16)}}`).join("")}]`, "gu")
    : null;

  // Apply `fn` to each maximal run of characters Python knows; copy the others unchanged.
  function onKnownRuns(text, fn) {
    let out = "";
    let start = 0;
    let i = 0;
    for (const ch of text) {
      const cp = ch.codePointAt(0);
      if (cp >= 0x80 && !known(cp)) {
        out += fn(text.slice(start, i)) + ch;
        start = i + ch.length;
      }
      i += ch.length;
    }
    return start === 0 ? fn(text) : out + fn(text.slice(start));
  }

  const nfkc = (s) => onKnownRuns(s, (run) => run.normalize("NFKC"));
  // janitr.data.normalize.strip_marks: NFD (of the characters Python knows), marks removed.
  const stripMarks = (s) => onKnownRuns(s, (run) => run.normalize("NFD")).replace(marks, "");
  const lowerRuns = (s) => onKnownRuns(s, (run) => run.toLowerCase());

  // Python's str.lower: the full lower-case mapping, and for Σ (the one context-dependent
  // mapping) CPython's handle_capital_sigma with Python's own cased/case-ignorable sets.
  function lower(text) {
    if (!text.includes("Σ")) return lowerRuns(text);
    const cps = Array.from(text, (ch) => ch.codePointAt(0));
    let out = "";
    let piece = "";
    for (let i = 0; i < cps.length; i++) {
      if (cps[i] !== 0x3a3) {
        piece += String.fromCodePoint(cps[i]);
        continue;
      }
      out += lowerRuns(piece) + (finalSigma(cps, i) ? "ς" : "σ");
      piece = "";
    }
    return out + lowerRuns(piece);
  }

  function finalSigma(cps, i) {
    let j = i - 1;
    while (j >= 0 && caseIgnorable(cps[j])) j--;
    if (j < 0 || !cased(cps[j])) return false;
    j = i + 1;
    while (j < cps.length && caseIgnorable(cps[j])) j++;
    return j === cps.length || !cased(cps[j]);
  }
  const collapse = (s) => s.replace(WS_RUNS, " ").replace(/^ | $/g, "");

  function once(text) {
    if (ASCII.test(text)) {
      // Python's ASCII fast path: NFKC and the zero-width set leave ASCII unchanged.
      if (stripUrls) text = text.replace(URL_RE, " ");
      return collapse(text.toLowerCase());
    }
    text = nfkc(text).replace(zeroWidth, "");
    if (stripUrls) text = text.replace(URL_RE, " ");
    text = nfkc(lower(text)).replace(zeroWidth, "");
    return collapse(text);
  }

  function translate(text) {
    let out = "";
    for (const ch of text) {
      const target = table.get(ch.codePointAt(0));
      out += target === undefined ? ch : target;
    }
    return out;
  }

  return function normalize(text) {
    if (typeof text !== "string") throw new TypeError(`expected a string, got ${typeof text}`);
    let out = once(text);
    if (fold) {
      for (let round = 0; round < FOLD_ROUNDS; round++) {
        const folded = once(stripMarks(translate(out)));
        if (folded === out) break;
        out = folded;
      }
    }
    return out;
  };
}

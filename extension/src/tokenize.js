// The student's tokenizer: tokenizer.json run by @huggingface/tokenizers (a pure-JS port of
// the Rust `tokenizers` that Python uses), with the truncation and special tokens of
// `janitr.runtime.onnx.encode_batch`:
//
//   ids = [CLS] pieces... [SEP], the pieces cut to max_length minus the special tokens
//
// Input is already normalized (normalize.js); the tokenizer has no normalizer of its own.
// The bare specifier resolves through node_modules under Node; extension pages cannot resolve
// it, so the build rewrites it to the vendored copy (and benchmarks/browser.mjs maps it).
import { Tokenizer } from "@huggingface/tokenizers";

/**
 * Build the encoder of a parsed tokenizer.json.
 * @param {object} json the parsed tokenizer.json.
 * @param {{maxLength: number}} options truncation length, special tokens included.
 * @returns {{encode: (text: string) => number[], vocabSize: number}}
 */
export function createTokenizer(json, { maxLength }) {
  const template = singleTemplate(json);
  const budget = maxLength - template.prefix.length - template.suffix.length;
  if (!(budget > 0)) throw new Error(`max_length ${maxLength} leaves no room for text`);
  // tokenizer_config.json is not part of a janitr bundle; nothing in it changes encoding.
  const tokenizer = new Tokenizer(json, {});
  return {
    vocabSize: json.model?.vocab?.length ?? 0,
    encode(text) {
      const pieces = tokenizer.encode(text, { add_special_tokens: false }).ids;
      return [...template.prefix, ...pieces.slice(0, budget), ...template.suffix];
    },
  };
}

// [CLS]/[SEP] ids around the text, from a TemplateProcessing post-processor (the only kind
// `janitr export web` lets through).
function singleTemplate(json) {
  const post = json.post_processor;
  if (!post || post.type !== "TemplateProcessing") {
    throw new Error(`tokenizer post_processor ${post?.type} is not TemplateProcessing`);
  }
  const prefix = [];
  const suffix = [];
  let seenSequence = false;
  for (const item of post.single) {
    if (item.Sequence) {
      seenSequence = true;
    } else if (item.SpecialToken) {
      const ids = post.special_tokens[item.SpecialToken.id]?.ids;
      if (!ids) throw new Error(`special token ${item.SpecialToken.id} has no ids`);
      (seenSequence ? suffix : prefix).push(...ids);
    }
  }
  if (!seenSequence) throw new Error("tokenizer template has no sequence");
  return { prefix, suffix };
}

// Reference ids of Hugging Face's tokenizer code in JavaScript (the npm package
// @huggingface/transformers, which reads tokenizer.json files) for text files: one line of
// space-separated ids per text, written to OUT_PREFIX<text name>.ids.
//   node tests/reference/hf_js_reference.mjs TRANSFORMERS_DIR TOKENIZER_JSON OUT_PREFIX TEXT...
// Texts are read as UTF-8 and encoded with add_special_tokens false (as the paper's data
// pipeline does); added tokens in a text become their ids, as in Hugging Face.
import fs from 'fs';
import path from 'path';
const [dir, json, prefix, ...texts] = process.argv.slice(2);
const { PreTrainedTokenizer } = await import(path.resolve(dir, 'dist/transformers.node.mjs'));
const tok = new PreTrainedTokenizer(JSON.parse(fs.readFileSync(json, 'utf-8')), {});
for (const t of texts) {
  const text = fs.readFileSync(t, 'utf-8');
  const ids = tok.encode(text, { add_special_tokens: false });
  const out = prefix + path.basename(t, '.txt') + '.ids';
  fs.writeFileSync(out, ids.join(' ') + '\n');
  console.log(out + ': ' + ids.length + ' ids');
}

// Reference ids of GPT-2's own encoder (the npm package gpt-3-encoder's Encoder.js) for
// text files: one line of space-separated ids per file, written to OUT.ids beside each.
//   node tests/reference/gpt2_reference.js ENCODER_DIR OUT_PREFIX TEXT...
// ENCODER_DIR holds Encoder.js with its encoder.json and vocab.bpe (the package's own, or
// the shrunk ones of gpt2_tokenizer_json.py --shrunk-dir). Files are read as UTF-8, as the
// package expects strings; <|endoftext|> in a text is ordinary text to it.
const fs = require('fs');
const path = require('path');
const [dir, prefix, ...texts] = process.argv.slice(2);
const { encode, decode } = require(path.resolve(dir, 'Encoder.js'));
for (const t of texts) {
  const text = fs.readFileSync(t, 'utf-8');
  const ids = encode(text);
  if (decode(ids) !== text) console.error(t + ': decode(encode(x)) != x');
  const out = prefix + path.basename(t, '.txt') + '.ids';
  fs.writeFileSync(out, ids.join(' ') + '\n');
  console.log(out + ': ' + ids.length + ' ids');
}

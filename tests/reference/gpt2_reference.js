// Reference ids of GPT-2's own encoder (the npm package gpt-3-encoder's Encoder.js) for
// text files: one line of space-separated ids per file, written to OUT.ids beside each.
//   node tests/reference/gpt2_reference.js ENCODER_DIR OUT_PREFIX TEXT...
// ENCODER_DIR holds Encoder.js with its encoder.json and vocab.bpe (the package's own, or
// the shrunk ones of gpt2_tokenizer_json.py --shrunk-dir). Files are read as UTF-8, as the
// package expects strings; <|endoftext|> in a text is ordinary text to it. Long texts are
// encoded in pieces (the package's encode is quadratic in the text's length), cut only
// after a newline that has no white space on either side: GPT-2's pattern makes that
// newline a word of its own in the whole text and at a piece's end alike, so the pieces'
// ids are the whole text's.
const fs = require('fs');
const path = require('path');
const [dir, prefix, ...texts] = process.argv.slice(2);
const { encode, decode } = require(path.resolve(dir, 'Encoder.js'));
for (const t of texts) {
  const text = fs.readFileSync(t, 'utf-8');
  const ids = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + 20000);
    while (end < text.length && !(text[end - 1] === '\n' && !/\s/u.test(text[end]) && !/\s/u.test(text[end - 2]))) end++;
    for (const id of encode(text.slice(start, end))) ids.push(id);
    start = end;
  }
  if (decode(ids) !== text) console.error(t + ': decode(encode(x)) != x');
  const out = prefix + path.basename(t, '.txt') + '.ids';
  fs.writeFileSync(out, ids.join(' ') + '\n');
  console.log(out + ': ' + ids.length + ' ids');
}

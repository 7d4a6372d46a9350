// Prints what Hugging Face tokenizers gives for hand-made cases, to check the expected values
// written in engine/tokenizer/tests/components_test.cpp.
// Usage: node reference_cases.js <tokenizer.json> <text>...   (ids with and without specials,
// then decode of the plain ids with and without skip_special_tokens)
const { Tokenizer } = require('tokenizers');
const fs = require('fs');

async function main() {
  const [file, ...texts] = process.argv.slice(2);
  const tok = Tokenizer.fromString(fs.readFileSync(file, 'utf8'));
  for (const text of texts) {
    const plain = await tok.encode(text, null, { addSpecialTokens: false });
    const special = await tok.encode(text, null, { addSpecialTokens: true });
    const ids = plain.getIds();
    console.log(JSON.stringify({
      text,
      ids,
      tokens: plain.getTokens(),
      with_special: special.getIds(),
      decoded: await tok.decode(ids, false),
      decoded_with_special: await tok.decode(special.getIds(), false),
      decoded_skip: await tok.decode(special.getIds(), true),
    }));
  }
}
main().catch((e) => { console.error(e); process.exit(1); });

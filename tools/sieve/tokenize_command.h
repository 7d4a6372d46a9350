// `sieve tokenize`: a tokenizer.json from the shell, JSONL text to ids or ids to text.
#pragma once

namespace CLI {
class App;
}

namespace sieve {

void add_tokenize_command(CLI::App& app);

}  // namespace sieve

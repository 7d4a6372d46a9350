// `sieve chat-template`: a model's chat template rendered from the shell.
#pragma once

namespace CLI {
class App;
}

namespace sieve {

void add_chat_template_command(CLI::App& app);

}  // namespace sieve

// `sieve make-checkpoint`: random-weight checkpoints of real model shapes.
#pragma once

namespace CLI {
class App;
}

namespace sieve {

void add_make_checkpoint_command(CLI::App& app);

}  // namespace sieve

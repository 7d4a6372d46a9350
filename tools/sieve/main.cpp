// sieve: one binary, one subcommand per job (sieve --help lists them).
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "tools/sieve/bench/bench_command.h"
#include "tools/sieve/chat_template_command.h"
#include "tools/sieve/config_file.h"
#include "tools/sieve/inspect_command.h"
#include "tools/sieve/make_checkpoint_command.h"
#include "tools/sieve/run/run_command.h"
#include "tools/sieve/serve_command.h"
#include "tools/sieve/tokenize_command.h"

int main(int argc, char** argv) {
  // Logs go to stderr so `--output -` keeps stdout for results.
  spdlog::set_default_logger(spdlog::stderr_color_mt("sieve"));
  spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");

  CLI::App app{"sieve: an inference engine for Mixture-of-Experts language models", "sieve"};
  app.require_subcommand(1);
  // A flag given twice (by --config and on the command line) keeps the last value.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.set_version_flag("--version", "sieve 0.1.0");
  sieve::add_serve_command(app);
  sieve::add_run_command(app);
  sieve::add_inspect_command(app);
  sieve::add_make_checkpoint_command(app);
  sieve::add_tokenize_command(app);
  sieve::add_chat_template_command(app);
  sieve::add_bench_command(app);
  auto add_config_flag = [](CLI::App* cmd) {
    cmd->add_option_function<std::string>(
        "--config", [](const std::string&) {},
        "JSON file of this command's flags ({\"max-num-seqs\": 8, ...}); flags given on the "
        "command line override it");
  };
  for (CLI::App* sub : app.get_subcommands({})) {
    const auto nested = sub->get_subcommands({});
    if (nested.empty()) add_config_flag(sub);
    for (CLI::App* cmd : nested)  // `sieve bench serve --config FILE`
      add_config_flag(cmd);
  }

  std::vector<std::string> args(argv, argv + argc);
  auto expanded = sieve::expand_config_file(args);
  if (!expanded.ok()) {
    spdlog::error("{}", expanded.status().message());
    return 2;
  }
  std::vector<const char*> cargv;
  for (const std::string& a : *expanded)
    cargv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(cargv.size()), const_cast<char**>(cargv.data()));
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // the command has logged what went wrong
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}

#include "tools/sieve/chat_template_command.h"

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "engine/text/chat_template/chat_template.h"
#include "engine/text/prompt_encoder.h"
#include "tools/sieve/jsonl_io.h"

namespace sieve {
namespace {

using json = nlohmann::ordered_json;

struct Opts {
  std::string model;
  std::string input;
  std::string output = "-";
  std::string date;
  std::string template_name = "default";
};

// "YYYY-MM-DD" → noon UTC that day: strftime_now then gives that date in any time zone
// from UTC-12 to UTC+11.
Result<std::chrono::system_clock::time_point> parse_date(const std::string& s) {
  int y = 0;
  unsigned m = 0, d = 0;
  char tail = 0;
  if (std::sscanf(s.c_str(), "%4d-%2u-%2u%c", &y, &m, &d, &tail) != 3) {
    return invalid_argument("--date must be YYYY-MM-DD, got '" + s + "'");
  }
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m},
                                        std::chrono::day{d}};
  if (!ymd.ok()) return invalid_argument("--date " + s + " is not a calendar date");
  return std::chrono::system_clock::time_point(std::chrono::sys_days{ymd} + std::chrono::hours{12});
}

Result<json> render_line(const ChatTemplate& tmpl, const json& j) {
  ChatTemplateInput in;
  for (const auto& [key, value] : j.items()) {
    if (key == "messages") {
      in.messages = value;
    } else if (key == "tools") {
      in.tools = value;
    } else if (key == "add_generation_prompt") {
      if (!value.is_boolean())
        return invalid_argument("'add_generation_prompt' must be true or false");
      in.add_generation_prompt = value.get<bool>();
    } else if (key != "id") {
      in.kwargs[key] = value;  // enable_thinking, reasoning_effort, ...
    }
  }
  if (!j.contains("messages")) return invalid_argument("each line needs \"messages\": [...]");
  SIEVE_RETURN_IF_ERROR(validate_chat_input(in));
  SIEVE_ASSIGN_OR_RETURN(std::string prompt, tmpl.render(in));
  json out = json::object();
  if (j.contains("id")) out["id"] = j["id"];
  out["prompt"] = std::move(prompt);
  return out;
}

void run(const Opts& o) {
  ChatTemplateOptions options;
  if (!o.date.empty()) {
    auto when = parse_date(o.date);
    if (!when.ok()) {
      spdlog::error("{}", when.status().message());
      throw CLI::RuntimeError(1);
    }
    options.clock = [t = *when] { return t; };
  }
  auto tmpl = ChatTemplate::load(o.model, o.template_name, options);
  if (!tmpl.ok()) {
    spdlog::error("{}", tmpl.status().message());
    throw CLI::RuntimeError(1);
  }
  auto files = JsonlFiles::open(o.input, o.output);
  if (!files.ok()) {
    spdlog::error("{}", files.status().message());
    throw CLI::RuntimeError(1);
  }
  int64_t lines = 0, errors = 0;
  const bool written =
      (*files)->map_objects([&](const json& j) { return render_line(*tmpl, j); }, lines, errors);
  if (!written) {
    spdlog::error("writing --output {} failed", o.output);
    throw CLI::RuntimeError(1);
  }
  spdlog::info("rendered {} conversations ({} errors) with the chat template of {}", lines, errors,
               o.model);
}

}  // namespace

void add_chat_template_command(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "chat-template",
      "Render conversations with a model's chat template (from tokenizer_config.json or "
      "chat_template.jinja), as transformers' apply_chat_template does. One JSON object per "
      "line in, {\"prompt\": \"...\"} per line out, in order; a line that fails gets "
      "{\"id\", \"error\"}.");
  cmd->add_option("--model", o->model,
                  "Model (or tokenizer) directory holding tokenizer_config.json or "
                  "chat_template.jinja")
      ->required();
  cmd->add_option("--input", o->input,
                  "JSONL ('-' = stdin): {\"messages\": [...], \"tools\": [...], "
                  "\"add_generation_prompt\": false, ...} per line; every other key (e.g. "
                  "enable_thinking, reasoning_effort) is passed to the template; \"id\" is "
                  "echoed back")
      ->required();
  cmd->add_option("--output", o->output, "JSONL ('-' = stdout): {\"prompt\": \"...\"} per line")
      ->capture_default_str();
  cmd->add_option("--date", o->date,
                  "YYYY-MM-DD that strftime_now() returns (default: today), for reproducible "
                  "renders");
  cmd->add_option("--template-name", o->template_name,
                  "Which template when the config holds a list of named ones (e.g. tool_use)")
      ->capture_default_str();
  cmd->callback([o]() { run(*o); });
}

}  // namespace sieve

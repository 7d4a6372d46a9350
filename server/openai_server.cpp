#include "server/openai_server.h"

#include <chrono>
#include <cmath>
#include <mutex>
#include <set>

#include <spdlog/spdlog.h>

#include "server/chat_output_json.h"
#include "server/dashboard_page.h"
#include "server/openai_protocol.h"

namespace sieve::server {

namespace {

using Clock = std::chrono::steady_clock;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void send_json(http::Responder& res, int status, const json& body) {
  res.send(status, "application/json", dump(body));
}

void send_error(http::Responder& res, Metrics& metrics, const ApiError& e) {
  metrics.request_rejected(e.status);
  send_json(res, e.status, error_body(e));
}

// Status codes for what the engine refuses.
ApiError engine_error(const Status& s) {
  switch (s.code()) {
    case StatusCode::kResourceExhausted:
      return {429, s.message(), "rate_limit_error", ""};
    case StatusCode::kUnavailable:
      return {503, s.message(), "server_error", ""};
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kUnimplemented:
      return {400, s.message(), "invalid_request_error", ""};
    default:
      return {500, s.message(), "server_error", ""};
  }
}

}  // namespace

// One generation request: its choices (prompts × n), their engine ids, and what has been
// streamed. Sinks run on the engine thread, disconnects on an I/O thread: all under mu.
struct OpenAiFrontend::Job : std::enable_shared_from_this<Job> {
  struct Choice {
    size_t prompt_index = 0;
    size_t streamed = 0;  // bytes of text sent
    bool role_sent = false;
    bool finished = false;
    int64_t tokens = 0;
    double ttft = 0;
    RequestOutput out;
    // A streamed chat choice with a chat-output parser: its output parsed as it comes.
    std::unique_ptr<ChatStream> parsed;
  };

  std::mutex mu;
  OpenAiFrontend* fe = nullptr;
  ParsedRequest req;
  bool chat = false;
  bool parsed = false;  // chat with a chat-output parser: reasoning, content and tool calls
  std::shared_ptr<http::Responder> res;
  std::string id;
  int64_t created = 0;
  std::string model;
  Clock::time_point arrival;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<Choice> choices;
  size_t remaining = 0;
  bool ready = false;                       // every choice submitted; streaming: events started
  bool failed = false;                      // a submit failed; the error was sent
  std::vector<std::string> pending_events;  // streamed before `ready`

  const Tokenizer* tokenizer() const {
    return fe->encoder_ ? fe->encoder_->tokenizer().get() : nullptr;
  }

  std::string token_str(int32_t id) const {
    const Tokenizer* t = tokenizer();
    if (t && id < t->vocab_size()) {
      const int32_t one[] = {id};
      auto s = t->decode(one, /*skip_special_tokens=*/false);
      if (s.ok()) return *s;
    }
    return "token_id:" + std::to_string(id);
  }

  json bytes_of(const std::string& s) const {
    json b = json::array();
    for (unsigned char c : s)
      b.push_back(static_cast<int>(c));
    return b;
  }

  // The N most likely tokens (the sampled one among them if it is) from "sampled + N others".
  std::vector<TokenLogprob> top_n(const std::vector<TokenLogprob>& lps) const {
    std::vector<TokenLogprob> all = lps;
    std::stable_sort(all.begin(), all.end(), [](const TokenLogprob& a, const TokenLogprob& b) {
      return a.logprob > b.logprob;
    });
    const size_t n = req.params.logprobs ? static_cast<size_t>(*req.params.logprobs) : 0;
    if (all.size() > n) all.resize(n);
    return all;
  }

  static double clamp_lp(float lp) { return std::isfinite(lp) ? lp : -9999.0; }

  json chat_logprob_entry(const std::vector<TokenLogprob>& lps) const {
    const std::string tok = token_str(lps[0].token_id);
    json e = {{"token", tok}, {"logprob", clamp_lp(lps[0].logprob)}, {"bytes", bytes_of(tok)}};
    json top = json::array();
    for (const TokenLogprob& t : top_n(lps)) {
      const std::string s = token_str(t.token_id);
      top.push_back({{"token", s}, {"logprob", clamp_lp(t.logprob)}, {"bytes", bytes_of(s)}});
    }
    e["top_logprobs"] = std::move(top);
    return e;
  }

  // vLLM's prompt_logprobs of a completion: null for the first prompt token, then for each one a
  // map from token id to {logprob, rank, decoded_token}: the prompt token first, then the N
  // most likely others.
  json prompt_logprobs_json(const std::vector<std::vector<TokenLogprob>>& rows) const {
    json list = json::array();
    for (const auto& row : rows) {
      if (row.empty()) {
        list.push_back(nullptr);
        continue;
      }
      json m = json::object();
      for (const TokenLogprob& t : row) {
        m[std::to_string(t.token_id)] = {{"logprob", clamp_lp(t.logprob)},
                                         {"rank", t.rank},
                                         {"decoded_token", token_str(t.token_id)}};
      }
      list.push_back(std::move(m));
    }
    return list;
  }

  // Completions' legacy logprobs object for tokens [first, first + count) of a choice.
  json completion_logprobs(const std::vector<std::vector<TokenLogprob>>& lps,
                           const std::vector<int32_t>& ids, size_t first, size_t count,
                           size_t text_offset) const {
    json tokens = json::array(), token_lps = json::array(), tops = json::array(),
         offsets = json::array();
    size_t offset = text_offset;
    for (size_t i = first; i < first + count && i < lps.size(); ++i) {
      const std::string tok = token_str(ids[i]);
      tokens.push_back(tok);
      token_lps.push_back(clamp_lp(lps[i][0].logprob));
      json top = json::object();
      for (const TokenLogprob& t : lps[i])
        top[token_str(t.token_id)] = clamp_lp(t.logprob);
      tops.push_back(std::move(top));
      offsets.push_back(offset);
      offset += tok.size();
    }
    return {{"tokens", tokens},
            {"token_logprobs", token_lps},
            {"top_logprobs", tops},
            {"text_offset", offsets}};
  }

  json usage() const {
    int64_t prompt = 0, completion = 0, cached = 0;
    std::vector<bool> counted(prompts.size(), false);
    for (const Choice& c : choices) {
      completion += static_cast<int64_t>(c.out.output_token_ids.size());
      if (!counted[c.prompt_index]) {
        counted[c.prompt_index] = true;
        prompt += static_cast<int64_t>(prompts[c.prompt_index].size());
        cached += c.out.num_cached_tokens;
      }
    }
    return {{"prompt_tokens", prompt},
            {"completion_tokens", completion},
            {"total_tokens", prompt + completion},
            {"prompt_tokens_details", {{"cached_tokens", cached}}}};
  }

  json chunk_base() const {
    return {{"id", id},
            {"object", chat ? "chat.completion.chunk" : "text_completion"},
            {"created", created},
            {"model", model}};
  }

  void emit(const json& chunk) {
    std::string data = dump(chunk);
    if (ready) {
      res->send_event(std::move(data));
    } else {
      pending_events.push_back(std::move(data));
    }
  }

  // A streamed piece of one choice: text, the tokens it came with, maybe the finish.
  void stream_piece(size_t index, const std::string& text, const std::vector<int32_t>& ids,
                    const json& logprobs, const char* finish_reason) {
    Choice& c = choices[index];
    json choice = {{"index", index}};
    if (chat) {
      json delta = json::object();
      if (!c.role_sent) {
        delta["role"] = "assistant";
        c.role_sent = true;
      }
      if (!text.empty() || !finish_reason) delta["content"] = text;
      choice["delta"] = std::move(delta);
    } else {
      choice["text"] = text;
    }
    choice["logprobs"] = logprobs;
    choice["finish_reason"] = finish_reason ? json(finish_reason) : json(nullptr);
    if (req.return_token_ids) choice["token_ids"] = ids;
    json chunk = chunk_base();
    chunk["choices"] = json::array({std::move(choice)});
    if (req.include_usage) chunk["usage"] = nullptr;
    emit(chunk);
  }

  // Streamed parsed deltas of one choice: one chunk per delta (the first takes the role, the
  // logprobs and token ids); with none, one chunk still carries those when they are wanted.
  void stream_parsed(size_t index, std::vector<json> deltas, const std::vector<int32_t>& ids,
                     const json& logprobs, const char* finish_reason) {
    Choice& c = choices[index];
    const bool must_send =
        !logprobs.is_null() || req.return_token_ids || !c.role_sent || finish_reason;
    if (deltas.empty() && must_send) deltas.push_back(json::object());
    for (size_t k = 0; k < deltas.size(); ++k) {
      json delta = json::object();
      if (!c.role_sent) {
        delta["role"] = "assistant";
        c.role_sent = true;
      }
      delta.update(deltas[k]);
      json choice = {{"index", index}, {"delta", std::move(delta)}};
      const bool first = k == 0, last = k + 1 == deltas.size();
      choice["logprobs"] = first ? logprobs : json(nullptr);
      choice["finish_reason"] = last && finish_reason ? json(finish_reason) : json(nullptr);
      if (req.return_token_ids) choice["token_ids"] = first ? ids : std::vector<int32_t>{};
      json chunk = chunk_base();
      chunk["choices"] = json::array({std::move(choice)});
      if (req.include_usage) chunk["usage"] = nullptr;
      emit(chunk);
    }
  }

  void on_token(size_t index, const TokenEvent& e) {
    std::lock_guard lock(mu);
    if (failed) return;
    Choice& c = choices[index];
    if (c.tokens++ == 0) c.ttft = std::chrono::duration<double>(Clock::now() - arrival).count();
    if (!req.stream) return;
    json lp = nullptr;
    if (e.logprobs) {
      lp = chat ? json{{"content", json::array({chat_logprob_entry(*e.logprobs)})}}
                : completion_logprobs({*e.logprobs}, {e.token}, 0, 1, c.streamed);
    }
    if (c.parsed) {
      // The parser reads ids; e.text (before parsing) is not what the client gets.
      stream_parsed(index, c.parsed->push(e.token), {e.token}, lp, nullptr);
      return;
    }
    if (e.text.empty() && lp.is_null() && !req.return_token_ids && c.role_sent) return;
    c.streamed += e.text.size();
    stream_piece(index, std::string(e.text), {e.token}, lp, nullptr);
  }

  void on_finish(size_t index, RequestOutput&& out) {
    std::lock_guard lock(mu);
    Choice& c = choices[index];
    c.out = std::move(out);
    c.finished = true;
    --remaining;
    const double e2e = std::chrono::duration<double>(Clock::now() - arrival).count();
    fe->metrics_.request_finished(c.out.finish_reason, c.ttft, e2e,
                                  static_cast<int64_t>(c.out.output_token_ids.size()));
    if (failed) return;
    if (req.stream && c.parsed) {
      std::vector<json> rest = c.parsed->finish();
      const std::string reason = chat_finish_reason(c.out.finish_reason, c.parsed->output());
      stream_parsed(index, std::move(rest), {}, nullptr, reason.c_str());
    } else if (req.stream) {
      const std::string rest =
          c.streamed < c.out.text.size() ? c.out.text.substr(c.streamed) : std::string();
      c.streamed = c.out.text.size();
      stream_piece(index, rest, {}, nullptr, c.out.finish_reason.c_str());
    }
    if (remaining == 0 && ready) complete();
  }

  // Everything finished (and submitted): the response, or the stream's end.
  void complete() {
    if (req.stream) {
      if (req.include_usage) {
        json chunk = chunk_base();
        chunk["choices"] = json::array();
        chunk["usage"] = usage();
        emit(chunk);
      }
      res->send_event("[DONE]");
      res->end_events();
      return;
    }
    json body = {{"id", id},
                 {"object", chat ? "chat.completion" : "text_completion"},
                 {"created", created},
                 {"model", model}};
    json list = json::array();
    for (size_t i = 0; i < choices.size(); ++i) {
      const Choice& c = choices[i];
      json choice = {{"index", i}};
      json lp = nullptr;
      if (req.params.logprobs && !c.out.logprobs.empty()) {
        if (chat) {
          json content = json::array();
          for (const auto& l : c.out.logprobs)
            content.push_back(chat_logprob_entry(l));
          lp = {{"content", content}};
        } else {
          lp = completion_logprobs(c.out.logprobs, c.out.output_token_ids, 0, c.out.logprobs.size(),
                                   0);
        }
      }
      std::string finish_reason = c.out.finish_reason;
      if (parsed) {
        auto parser = fe->options_.chat_format.make_parser(prompts[c.prompt_index]);
        parser->push(c.out.output_token_ids);
        parser->finish();
        choice["message"] = chat_message_json(parser->output());
        finish_reason = chat_finish_reason(finish_reason, parser->output());
      } else if (chat) {
        choice["message"] = {{"role", "assistant"}, {"content", c.out.text}};
      } else {
        choice["text"] = c.out.text;
      }
      choice["logprobs"] = lp;
      if (!chat && req.params.prompt_logprobs) {
        choice["prompt_logprobs"] = prompt_logprobs_json(c.out.prompt_logprobs);
      }
      choice["finish_reason"] = finish_reason;
      if (!c.out.stop_string.empty()) choice["stop_reason"] = c.out.stop_string;
      if (req.return_token_ids) {
        if (!chat) choice["prompt_token_ids"] = prompts[c.prompt_index];
        choice["token_ids"] = c.out.output_token_ids;
      }
      list.push_back(std::move(choice));
    }
    body["choices"] = std::move(list);
    if (chat && req.return_token_ids) body["prompt_token_ids"] = prompts[0];
    body["usage"] = usage();
    send_json(*res, 200, body);
  }
};

OpenAiFrontend::OpenAiFrontend(ServingLoop& loop, const PromptEncoder* encoder, Metrics& metrics,
                               FrontendOptions options)
    : loop_(loop),
      encoder_(encoder),
      metrics_(metrics),
      options_(std::move(options)),
      started_at_(unix_now()) {}

void OpenAiFrontend::handle(http::Request req, std::shared_ptr<http::Responder> res) {
  const std::string& path = req.path;
  auto method_is = [&](const char* m) {
    if (req.method == m) return true;
    send_error(*res, metrics_,
               {405, "use " + std::string(m) + " for " + path, "invalid_request_error", ""});
    return false;
  };
  if (path == "/health") {
    if (!method_is("GET")) return;
    if (shutting_down_ || loop_.stopping()) {
      res->send(503, "text/plain", "shutting down\n");
    } else if (Status h = loop_.health(); !h.ok()) {
      res->send(503, "text/plain", h.message() + "\n");
    } else {
      res->send(200, "text/plain", "ok\n");
    }
    return;
  }
  if (path == "/metrics") {
    if (!method_is("GET")) return;
    res->send(200, "text/plain; version=0.0.4", metrics_.render());
    return;
  }
  if (options_.dashboard && (path == "/dashboard" || path == "/dashboard/")) {
    if (!method_is("GET")) return;
    res->send(200, "text/html; charset=utf-8", std::string(dashboard_page()));
    return;
  }
  if (options_.dashboard && path == "/dashboard/data") {
    if (!method_is("GET")) return;
    res->send(200, "application/json", options_.dashboard->data());
    return;
  }
  const bool api = path.rfind("/v1/", 0) == 0;
  const bool known = path == "/v1/models" || path == "/v1/completions" ||
                     path == "/v1/chat/completions" || path == "/tokenize" || path == "/detokenize";
  if (!known) {
    send_error(*res, metrics_, {404, "no route " + req.method + " " + path, "not_found_error", ""});
    return;
  }
  if ((api || path == "/tokenize" || path == "/detokenize") && !options_.api_key.empty()) {
    if (req.header("authorization") != "Bearer " + options_.api_key) {
      send_error(*res, metrics_,
                 {401, "missing or wrong API key: send 'Authorization: Bearer <key>'",
                  "authentication_error", ""});
      return;
    }
  }
  if (path == "/v1/models") {
    if (method_is("GET")) models(*res);
    return;
  }
  if (!method_is("POST")) return;
  if (shutting_down_ || loop_.stopping()) {
    send_error(*res, metrics_, {503, "the server is shutting down", "server_error", ""});
    return;
  }
  if (path == "/tokenize") {
    tokenize(req, *res);
  } else if (path == "/detokenize") {
    detokenize(req, *res);
  } else {
    generate(req, res, path == "/v1/chat/completions");
  }
}

std::optional<ApiError> OpenAiFrontend::require_encoder(const std::string& param) const {
  if (encoder_) return std::nullopt;
  return ApiError{400,
                  "this server has no tokenizer, so it takes token-id prompts only (" +
                      options_.no_tokenizer_reason + ")",
                  "invalid_request_error", param};
}

void OpenAiFrontend::models(http::Responder& res) {
  json model = {{"id", options_.model_name},   {"object", "model"},
                {"created", started_at_},      {"owned_by", "sieve"},
                {"root", options_.model_name}, {"max_model_len", options_.max_model_len}};
  send_json(res, 200, {{"object", "list"}, {"data", json::array({model})}});
}

namespace {

std::optional<ApiError> parse_body(const http::Request& req, json& out) {
  out = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded())
    return ApiError{400, "the request body is not valid JSON", "invalid_request_error", ""};
  if (!out.is_object())
    return ApiError{400, "the request body must be a JSON object", "invalid_request_error", ""};
  return std::nullopt;
}

}  // namespace

void OpenAiFrontend::tokenize(const http::Request& req, http::Responder& res) {
  json body;
  if (auto e = parse_body(req, body)) return send_error(res, metrics_, *e);
  if (auto e = require_encoder("")) return send_error(res, metrics_, *e);
  for (const auto& [k, v] : body.items()) {
    static const std::set<std::string> known = {"model",
                                                "prompt",
                                                "messages",
                                                "add_special_tokens",
                                                "add_generation_prompt",
                                                "tools",
                                                "chat_template_kwargs",
                                                "return_token_strs"};
    if (!known.count(k))
      return send_error(res, metrics_,
                        {400, "unknown field '" + k + "'", "invalid_request_error", k});
  }
  const bool has_prompt = body.contains("prompt"), has_messages = body.contains("messages");
  if (has_prompt == has_messages) {
    return send_error(res, metrics_,
                      {400, "give exactly one of 'prompt' (text) or 'messages' (chat)",
                       "invalid_request_error", ""});
  }
  auto flag = [&](const char* k, bool dflt, bool& out) -> std::optional<ApiError> {
    out = dflt;
    if (!body.contains(k) || body[k].is_null()) return std::nullopt;
    if (!body[k].is_boolean())
      return ApiError{400, std::string("'") + k + "' must be true or false",
                      "invalid_request_error", k};
    out = body[k].get<bool>();
    return std::nullopt;
  };
  bool add_special = false, strs = false;
  if (auto e = flag("add_special_tokens", has_prompt, add_special))
    return send_error(res, metrics_, *e);
  if (auto e = flag("return_token_strs", false, strs)) return send_error(res, metrics_, *e);
  std::string text;
  if (has_prompt) {
    if (!body["prompt"].is_string())
      return send_error(res, metrics_,
                        {400, "'prompt' must be a string", "invalid_request_error", "prompt"});
    text = body["prompt"].get<std::string>();
  } else {
    ChatTemplateInput in;
    in.messages = body["messages"];
    options_.chat_format.prepare_messages(in.messages);
    in.add_generation_prompt = true;
    if (auto e = flag("add_generation_prompt", true, in.add_generation_prompt))
      return send_error(res, metrics_, *e);
    if (body.contains("tools") && !body["tools"].is_null()) in.tools = body["tools"];
    if (body.contains("chat_template_kwargs")) {
      if (!body["chat_template_kwargs"].is_object())
        return send_error(res, metrics_,
                          {400, "'chat_template_kwargs' must be an object", "invalid_request_error",
                           "chat_template_kwargs"});
      in.kwargs = body["chat_template_kwargs"];
    }
    auto rendered = encoder_->render_chat(in);
    if (!rendered.ok()) return send_error(res, metrics_, engine_error(rendered.status()));
    text = *rendered;
  }
  auto ids = encoder_->encode(text, add_special);
  if (!ids.ok()) return send_error(res, metrics_, engine_error(ids.status()));
  json out = {{"count", ids->size()}, {"max_model_len", options_.max_model_len}, {"tokens", *ids}};
  if (strs) {
    json s = json::array();
    for (int32_t id : *ids)
      s.push_back(encoder_->tokenizer()->id_to_token(id).value_or(""));
    out["token_strs"] = std::move(s);
  }
  send_json(res, 200, out);
}

void OpenAiFrontend::detokenize(const http::Request& req, http::Responder& res) {
  json body;
  if (auto e = parse_body(req, body)) return send_error(res, metrics_, *e);
  if (auto e = require_encoder("")) return send_error(res, metrics_, *e);
  for (const auto& [k, v] : body.items()) {
    if (k != "model" && k != "tokens")
      return send_error(res, metrics_,
                        {400, "unknown field '" + k + "'", "invalid_request_error", k});
  }
  if (!body.contains("tokens") || !body["tokens"].is_array()) {
    return send_error(
        res, metrics_,
        {400, "'tokens' must be a list of token ids", "invalid_request_error", "tokens"});
  }
  std::vector<int32_t> ids;
  const int64_t vocab = encoder_->tokenizer()->vocab_size();
  for (const json& t : body["tokens"]) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= vocab) {
      return send_error(
          res, metrics_,
          {400,
           "'tokens' must hold token ids in [0, " + std::to_string(vocab) + "), got " + t.dump(),
           "invalid_request_error", "tokens"});
    }
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  auto text = encoder_->tokenizer()->decode(ids, /*skip_special_tokens=*/false);
  if (!text.ok()) return send_error(res, metrics_, engine_error(text.status()));
  send_json(res, 200, {{"prompt", *text}});
}

void OpenAiFrontend::generate(const http::Request& hreq, std::shared_ptr<http::Responder> res,
                              bool chat) {
  json body;
  if (auto e = parse_body(hreq, body)) return send_error(*res, metrics_, *e);
  auto job = std::make_shared<Job>();
  job->fe = this;
  job->chat = chat;
  job->parsed = chat && options_.chat_format.active();
  job->res = res;
  job->arrival = Clock::now();
  job->created = unix_now();
  job->model = options_.model_name;
  job->id = std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(job->created) + "-" +
            std::to_string(next_id_++);
  ParsedRequest& r = job->req;
  if (auto e = parse_request(body, chat ? Endpoint::kChat : Endpoint::kCompletions, r)) {
    return send_error(*res, metrics_, *e);
  }
  if (!r.model.empty() && r.model != options_.model_name) {
    return send_error(*res, metrics_,
                      {404,
                       "The model `" + r.model + "` does not exist; this server serves `" +
                           options_.model_name + "`",
                       "not_found_error", "model"});
  }
  // Prompts to token ids.
  if (chat) {
    if (auto e = require_encoder(chat ? "messages" : "prompt"))
      return send_error(*res, metrics_, *e);
    if (job->parsed) options_.chat_format.prepare_messages(r.chat->messages);
    auto ids = encoder_->encode_chat(*r.chat);
    if (!ids.ok()) {
      ApiError e = engine_error(ids.status());
      e.param = "messages";
      return send_error(*res, metrics_, e);
    }
    job->prompts.push_back(std::move(*ids));
  } else {
    for (const PromptInput& p : r.prompts) {
      if (p.ids) {
        job->prompts.push_back(*p.ids);
        continue;
      }
      if (auto e = require_encoder(chat ? "messages" : "prompt"))
        return send_error(*res, metrics_, *e);
      auto ids = encoder_->encode_text(*p.text);
      if (!ids.ok()) return send_error(*res, metrics_, engine_error(ids.status()));
      job->prompts.push_back(std::move(*ids));
    }
  }
  const int64_t max_len = options_.max_model_len;
  for (const auto& ids : job->prompts) {
    const int64_t n = static_cast<int64_t>(ids.size());
    if (n == 0)
      return send_error(
          *res, metrics_,
          {400, "the prompt encodes to no tokens", "invalid_request_error", "prompt"});
    if (n >= max_len) {
      return send_error(*res, metrics_,
                        {413,
                         "the prompt has " + std::to_string(n) +
                             " tokens; this model's maximum context length is " +
                             std::to_string(max_len) + " tokens",
                         "invalid_request_error", chat ? "messages" : "prompt"});
    }
    if (r.max_tokens_given && n + r.params.max_tokens > max_len) {
      return send_error(
          *res, metrics_,
          {400,
           "this model's maximum context length is " + std::to_string(max_len) + " tokens, but " +
               std::to_string(n) + " prompt tokens + " + std::to_string(r.params.max_tokens) +
               " max_tokens were requested; lower max_tokens",
           "invalid_request_error", "max_tokens"});
    }
  }

  // Every choice into the engine; the Job answers as they finish.
  // Choices are laid out before the first submit and never move; submitting does not hold
  // job->mu, so a sink that fires at once only waits for the short locked sections below,
  // never for the other submits.
  for (size_t pi = 0; pi < job->prompts.size(); ++pi) {
    for (int64_t j = 0; j < r.n; ++j) {
      Job::Choice c;
      c.prompt_index = pi;
      if (job->parsed && r.stream)
        c.parsed = std::make_unique<ChatStream>(options_.chat_format.make_parser(job->prompts[pi]));
      job->choices.push_back(std::move(c));
    }
  }
  job->remaining = job->choices.size();
  std::vector<uint64_t> submitted;
  for (size_t i = 0; i < job->choices.size(); ++i) {
    const size_t pi = job->choices[i].prompt_index;
    GenerationRequest g;
    g.prompt_token_ids = job->prompts[pi];
    g.params = r.params;
    g.priority = r.priority;
    if (chat && !r.max_tokens_given) {
      g.params.max_tokens = max_len - static_cast<int64_t>(g.prompt_token_ids.size());
    }
    if (job->parsed) options_.chat_format.add_stop_tokens(g.params.stop_token_ids);
    // n samples of one seeded request differ from each other and repeat run to run.
    if (g.params.seed && r.n > 1) *g.params.seed += static_cast<uint64_t>(i % r.n);
    RequestSink sink;
    sink.on_token = [job, i](const TokenEvent& e) { job->on_token(i, e); };
    sink.on_finish = [job, i](RequestOutput&& out) { job->on_finish(i, std::move(out)); };
    auto id = loop_.submit(std::move(g), std::move(sink));
    if (!id.ok()) {
      {
        std::lock_guard lock(job->mu);
        job->failed = true;
      }
      for (uint64_t s : submitted)
        loop_.abort(s);
      return send_error(*res, metrics_, engine_error(id.status()));
    }
    submitted.push_back(*id);
  }
  // A client that leaves takes its requests with it: aborted at the next step, pages freed.
  res->on_disconnect([this, submitted] {
    for (uint64_t s : submitted)
      loop_.abort(s);
  });
  std::lock_guard lock(job->mu);
  if (r.stream) {
    res->start_events();
    for (std::string& e : job->pending_events)
      res->send_event(std::move(e));
    job->pending_events.clear();
  }
  job->ready = true;
  if (job->remaining == 0) job->complete();
}

}  // namespace sieve::server

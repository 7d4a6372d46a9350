#include "server/grpc_server.h"

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "proto/sieve.grpc.pb.h"
#include "server/chat_output_json.h"

namespace sieve::server {

namespace pb = ::sieve::v1;
using json = nlohmann::ordered_json;

namespace {

grpc::Status to_grpc(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
      return {grpc::StatusCode::INVALID_ARGUMENT, s.message()};
    case StatusCode::kUnimplemented:
      return {grpc::StatusCode::UNIMPLEMENTED, s.message()};
    case StatusCode::kResourceExhausted:
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, s.message()};
    case StatusCode::kUnavailable:
      return {grpc::StatusCode::UNAVAILABLE, s.message()};
    default:
      return {grpc::StatusCode::INTERNAL, s.message()};
  }
}

// A chat Generate with a chat-output parser: the parser, and the ids given to its tool calls
// (chunks and the completion name a call alike). Used only on the serving loop's thread.
struct ParsedCall {
  std::unique_ptr<ChatOutputParser> parser;
  std::vector<std::string> call_ids;

  // Copies a parser delta into a chunk or completion's fields.
  template <class Msg>
  void fill(const ChatDelta& d, size_t first_call, Msg& m) {
    m.set_reasoning_content(d.reasoning);
    m.set_content(d.content);
    for (size_t i = 0; i < d.tool_calls.size(); ++i) {
      if (first_call + i == call_ids.size()) call_ids.push_back(new_tool_call_id());
      pb::ToolCall* c = m.add_tool_calls();
      c->set_id(call_ids[first_call + i]);
      c->set_name(d.tool_calls[i].name);
      c->set_arguments(d.tool_calls[i].arguments);
    }
  }
};

Result<json> parse_json(const std::string& text, const std::string& field, bool want_object) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || (want_object ? !j.is_object() : !j.is_array())) {
    return invalid_argument(field + " must be a JSON " + (want_object ? "object" : "list"));
  }
  return j;
}

Result<ChatTemplateInput> chat_input(const pb::ChatInput& c) {
  ChatTemplateInput in;
  for (const pb::ChatMessage& m : c.messages()) {
    json msg = {{"role", m.role()}, {"content", m.content()}};
    if (!m.reasoning_content().empty()) msg["reasoning_content"] = m.reasoning_content();
    if (!m.extra_json().empty()) {
      SIEVE_ASSIGN_OR_RETURN(json extra, parse_json(m.extra_json(), "extra_json", true));
      for (auto& [k, v] : extra.items())
        msg[k] = v;
    }
    in.messages.push_back(std::move(msg));
  }
  if (!c.tools_json().empty()) {
    SIEVE_ASSIGN_OR_RETURN(in.tools, parse_json(c.tools_json(), "tools_json", false));
  }
  if (!c.chat_template_kwargs_json().empty()) {
    SIEVE_ASSIGN_OR_RETURN(
        in.kwargs, parse_json(c.chat_template_kwargs_json(), "chat_template_kwargs_json", true));
  }
  in.add_generation_prompt = c.has_add_generation_prompt() ? c.add_generation_prompt() : true;
  SIEVE_RETURN_IF_ERROR(validate_chat_input(in));
  return in;
}

// A set field of a protobuf message as JSON (the types the schema reads). Proto3 scalars without
// `optional` count as set when they differ from their default, as protobuf itself reports it.
json field_json(const google::protobuf::Message& m, const google::protobuf::FieldDescriptor& f) {
  using FD = google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection& r = *m.GetReflection();
  auto one = [&](int i) -> json {
    const bool rep = f.is_repeated();
    switch (f.cpp_type()) {
      case FD::CPPTYPE_INT32:
        return rep ? r.GetRepeatedInt32(m, &f, i) : r.GetInt32(m, &f);
      case FD::CPPTYPE_INT64:
        return rep ? r.GetRepeatedInt64(m, &f, i) : r.GetInt64(m, &f);
      case FD::CPPTYPE_UINT32:
        return rep ? r.GetRepeatedUInt32(m, &f, i) : r.GetUInt32(m, &f);
      case FD::CPPTYPE_UINT64:
        return rep ? r.GetRepeatedUInt64(m, &f, i) : r.GetUInt64(m, &f);
      case FD::CPPTYPE_FLOAT:
        return rep ? r.GetRepeatedFloat(m, &f, i) : r.GetFloat(m, &f);
      case FD::CPPTYPE_DOUBLE:
        return rep ? r.GetRepeatedDouble(m, &f, i) : r.GetDouble(m, &f);
      case FD::CPPTYPE_BOOL:
        return rep ? r.GetRepeatedBool(m, &f, i) : r.GetBool(m, &f);
      case FD::CPPTYPE_STRING:
        return rep ? r.GetRepeatedString(m, &f, i) : r.GetString(m, &f);
      default:
        return nullptr;
    }
  };
  if (!f.is_repeated()) return one(0);
  json list = json::array();
  for (int i = 0; i < r.FieldSize(m, &f); ++i)
    list.push_back(one(i));
  return list;
}

// SamplingParams in through the engine's one schema (engine/sampling_params.h): every field the
// message sets, by name, then the same range checks as every other front end.
Status read_sampling(const pb::SamplingParams& s, int32_t priority, GenerationRequest& g) {
  std::vector<const google::protobuf::FieldDescriptor*> set;
  s.GetReflection()->ListFields(s, &set);
  for (const google::protobuf::FieldDescriptor* f : set) {
    if (!is_request_param(f->name())) {
      return internal_error("SamplingParams." + f->name() + " is not a request parameter");
    }
    if (auto e = read_request_param(f->name(), field_json(s, *f), g)) {
      return invalid_argument(e->message);
    }
  }
  if (auto e = read_request_param("priority", json(priority), g)) {
    return invalid_argument(e->message);
  }
  if (auto e = check_request_params(g)) return invalid_argument(e->message);
  return Status::Ok();
}

}  // namespace

struct GrpcFrontend::Impl final : pb::Sieve::CallbackService {
  ServingLoop& loop;
  const PromptEncoder* encoder;
  const ModelConfig& config;
  Metrics& metrics;
  FrontendOptions options;
  std::unique_ptr<grpc::Server> server;
  std::atomic<bool> shutting_down{false};
  std::atomic<uint64_t> next_id{1};
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::mutex ids_mu;
  std::map<std::string, uint64_t> running;  // client request id → engine id

  Impl(ServingLoop& l, const PromptEncoder* e, const ModelConfig& c, Metrics& m, FrontendOptions o)
      : loop(l), encoder(e), config(c), metrics(m), options(std::move(o)) {}

  Result<std::vector<int32_t>> prompt_ids(const pb::GenerateRequest& r) const {
    auto need = [&]() -> Status {
      if (encoder) return Status::Ok();
      return invalid_argument("this server has no tokenizer, so it takes token_ids only (" +
                              options.no_tokenizer_reason + ")");
    };
    switch (r.input_case()) {
      case pb::GenerateRequest::kTokenIds:
        return std::vector<int32_t>(r.token_ids().ids().begin(), r.token_ids().ids().end());
      case pb::GenerateRequest::kText:
        SIEVE_RETURN_IF_ERROR(need());
        return encoder->encode_text(r.text());
      case pb::GenerateRequest::kChat: {
        SIEVE_RETURN_IF_ERROR(need());
        SIEVE_ASSIGN_OR_RETURN(ChatTemplateInput in, chat_input(r.chat()));
        options.chat_format.prepare_messages(in.messages);
        return encoder->encode_chat(in);
      }
      default:
        return invalid_argument("GenerateRequest needs an input: text, token_ids or chat");
    }
  }

  // One Generate call. Its state outlives the reactor when the engine still holds the sink
  // after the client has gone: sinks see `reactor == nullptr` and drop what they get.
  class GenerateCall : public grpc::ServerWriteReactor<pb::GenerateResponse> {
   public:
    struct State {
      std::mutex mu;
      GenerateCall* reactor = nullptr;
    };

    GenerateCall(Impl& impl, std::string request_id)
        : impl_(impl), request_id_(std::move(request_id)), state_(std::make_shared<State>()) {
      state_->reactor = this;
    }
    std::shared_ptr<State> state() const { return state_; }
    void set_engine_id(uint64_t id) { engine_id_ = id; }

    // From a sink (engine thread), under state->mu.
    void push(pb::GenerateResponse msg, bool last) {
      if (finished_) return;
      msg.set_request_id(request_id_);
      queue_.push_back(std::move(msg));
      last_queued_ = last_queued_ || last;
      if (!writing_) write_next();
    }
    void fail(grpc::Status s) {
      std::lock_guard lock(state_->mu);
      finish(std::move(s));
    }

    void OnWriteDone(bool ok) override {
      std::lock_guard lock(state_->mu);
      writing_ = false;
      if (!ok) {
        impl_.loop.abort(engine_id_);  // the client went away
        finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
        return;
      }
      if (!queue_.empty()) {
        write_next();
      } else if (last_queued_) {
        finish(grpc::Status::OK);
      }
    }
    void OnCancel() override {
      impl_.loop.abort(engine_id_);
      std::lock_guard lock(state_->mu);
      if (!writing_) finish(grpc::Status::CANCELLED);
    }
    void OnDone() override {
      {
        std::lock_guard lock(state_->mu);
        state_->reactor = nullptr;
      }
      {
        std::lock_guard lock(impl_.ids_mu);
        auto it = impl_.running.find(request_id_);
        if (it != impl_.running.end() && it->second == engine_id_) impl_.running.erase(it);
      }
      delete this;
    }

   private:
    void write_next() {
      current_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      StartWrite(&current_);
    }
    void finish(grpc::Status s) {
      if (finished_) return;
      finished_ = true;
      Finish(std::move(s));
    }

    Impl& impl_;
    std::string request_id_;
    std::shared_ptr<State> state_;
    std::atomic<uint64_t> engine_id_{0};
    std::deque<pb::GenerateResponse> queue_;
    pb::GenerateResponse current_;
    bool writing_ = false, last_queued_ = false, finished_ = false;
  };

  grpc::ServerWriteReactor<pb::GenerateResponse>* Generate(
      grpc::CallbackServerContext* ctx, const pb::GenerateRequest* req) override {
    std::string rid =
        req->request_id().empty() ? "grpc-" + std::to_string(next_id++) : req->request_id();
    auto* call = new GenerateCall(*this, rid);
    auto refuse = [&](const Status& s) {
      metrics.request_rejected(s.code() == StatusCode::kResourceExhausted ? 429 : 400);
      call->fail(to_grpc(s));
      return call;
    };
    if (shutting_down || loop.stopping()) return refuse(unavailable("the server is shutting down"));
    auto ids = prompt_ids(*req);
    if (!ids.ok()) return refuse(ids.status());
    if (ids->empty()) return refuse(invalid_argument("the prompt is empty"));
    GenerationRequest g;
    g.prompt_token_ids = std::move(*ids);
    if (Status read = read_sampling(req->sampling(), req->priority(), g); !read.ok()) {
      return refuse(read);
    }
    std::shared_ptr<ParsedCall> parsed;
    if (options.chat_format.active() && req->input_case() == pb::GenerateRequest::kChat) {
      options.chat_format.add_stop_tokens(g.params.stop_token_ids);
      parsed = std::make_shared<ParsedCall>();
      parsed->parser = options.chat_format.make_parser(g.prompt_token_ids);
    }
    const int64_t n = static_cast<int64_t>(g.prompt_token_ids.size());
    if (n >= options.max_model_len || n + g.params.max_tokens > options.max_model_len) {
      return refuse(invalid_argument(
          "the prompt (" + std::to_string(n) + " tokens) plus max_tokens (" +
          std::to_string(g.params.max_tokens) + ") exceeds this model's context of " +
          std::to_string(options.max_model_len) + " tokens"));
    }
    {
      std::lock_guard lock(ids_mu);
      if (running.count(rid))
        return refuse(invalid_argument("request_id '" + rid + "' is running"));
    }
    const auto arrival = std::chrono::steady_clock::now();
    auto state = call->state();
    auto first = std::make_shared<double>(-1);
    const Tokenizer* tok = encoder ? encoder->tokenizer().get() : nullptr;
    auto token_text = [tok](int32_t id) {
      if (!tok || id >= tok->vocab_size()) return std::string();
      const int32_t one[] = {id};
      auto s = tok->decode(one, false);
      return s.ok() ? *s : std::string();
    };
    RequestSink sink;
    sink.on_token = [state, first, arrival, token_text, parsed](const TokenEvent& e) {
      if (*first < 0)
        *first = std::chrono::duration<double>(std::chrono::steady_clock::now() - arrival).count();
      pb::GenerateResponse msg;
      pb::GenerateChunk* c = msg.mutable_chunk();
      c->add_token_ids(e.token);
      c->set_text(std::string(e.text));
      if (parsed) {
        const size_t calls = parsed->parser->output().tool_calls.size();
        parsed->fill(parsed->parser->push(e.token), calls, *c);
      }
      if (e.logprobs) {
        pb::TokenLogprobs* l = c->add_logprobs();
        for (const TokenLogprob& t : *e.logprobs) {
          pb::TokenLogprob* x = l->add_entries();
          x->set_token_id(t.token_id);
          x->set_logprob(t.logprob);
          x->set_token(token_text(t.token_id));
        }
      }
      std::lock_guard lock(state->mu);
      if (state->reactor) state->reactor->push(std::move(msg), false);
    };
    const std::vector<int32_t> prompt = g.prompt_token_ids;
    sink.on_finish = [this, state, first, arrival, prompt, rid, parsed](RequestOutput&& out) {
      {
        // No longer running as soon as it ends: an Abort that follows the completion (which the
        // client may see before the call's OnDone runs) finds nothing.
        std::lock_guard lock(ids_mu);
        auto it = running.find(rid);
        if (it != running.end() && it->second == out.request_id) running.erase(it);
      }
      const double e2e =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - arrival).count();
      metrics.request_finished(out.finish_reason, *first, e2e,
                               static_cast<int64_t>(out.output_token_ids.size()));
      pb::GenerateResponse msg;
      pb::GenerateComplete* c = msg.mutable_complete();
      c->set_finish_reason(out.finish_reason);
      std::optional<pb::GenerateResponse> last_chunk;
      if (parsed) {
        // What the parser still held goes out as a last chunk, and the totals in the completion.
        const size_t calls = parsed->parser->output().tool_calls.size();
        const ChatDelta rest = parsed->parser->finish();
        if (!rest.empty()) parsed->fill(rest, calls, *last_chunk.emplace().mutable_chunk());
        const ChatDelta& all = parsed->parser->output();
        parsed->fill(all, 0, *c);
        c->set_finish_reason(chat_finish_reason(out.finish_reason, all));
      }
      c->set_stop_string(out.stop_string);
      c->mutable_prompt_token_ids()->Add(prompt.begin(), prompt.end());
      c->mutable_output_token_ids()->Add(out.output_token_ids.begin(), out.output_token_ids.end());
      c->set_text(out.text);
      c->mutable_usage()->set_prompt_tokens(static_cast<uint32_t>(prompt.size()));
      c->mutable_usage()->set_completion_tokens(static_cast<uint32_t>(out.output_token_ids.size()));
      c->mutable_usage()->set_cached_tokens(static_cast<uint32_t>(out.num_cached_tokens));
      std::lock_guard lock(state->mu);
      if (state->reactor && last_chunk) state->reactor->push(std::move(*last_chunk), false);
      if (state->reactor) state->reactor->push(std::move(msg), true);
    };
    // Registered under the same lock as the submit, so an Abort can never miss it.
    std::optional<Result<uint64_t>> id;
    {
      std::lock_guard lock(ids_mu);
      id.emplace(loop.submit(std::move(g), std::move(sink)));
      if (id->ok()) {
        call->set_engine_id(**id);
        running[rid] = **id;
      }
    }
    if (!id->ok()) return refuse(id->status());
    (void)ctx;
    return call;
  }

  grpc::ServerUnaryReactor* Abort(grpc::CallbackServerContext* ctx, const pb::AbortRequest* req,
                                  pb::AbortResponse* resp) override {
    std::lock_guard lock(ids_mu);
    auto it = running.find(req->request_id());
    resp->set_found(it != running.end());
    if (it != running.end()) loop.abort(it->second);
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }

  grpc::ServerUnaryReactor* HealthCheck(grpc::CallbackServerContext* ctx,
                                        const pb::HealthCheckRequest*,
                                        pb::HealthCheckResponse* resp) override {
    const bool down = shutting_down || loop.stopping();
    const Status h = down ? Status::Ok() : loop.health();
    resp->set_healthy(!down && h.ok());
    resp->set_message(down ? "shutting down" : h.ok() ? "ok" : h.message());
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }

  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* ctx,
                                         const pb::GetModelInfoRequest*,
                                         pb::GetModelInfoResponse* resp) override {
    resp->set_model_name(options.model_name);
    resp->set_architecture(config.architecture);
    resp->set_model_type(config.model_type);
    resp->set_max_model_len(options.max_model_len);
    resp->set_vocab_size(config.vocab_size);
    resp->set_num_layers(config.num_layers);
    resp->set_num_experts(config.num_experts);
    resp->set_experts_per_token(config.top_k);
    resp->set_has_tokenizer(encoder != nullptr);
    resp->set_has_chat_template(encoder && encoder->has_chat_template());
    for (int64_t e : config.eos_token_ids)
      resp->add_eos_token_ids(static_cast<int32_t>(e));
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }

  grpc::ServerUnaryReactor* GetServerInfo(grpc::CallbackServerContext* ctx,
                                          const pb::GetServerInfoRequest*,
                                          pb::GetServerInfoResponse* resp) override {
    const EngineSnapshot s = loop.snapshot();
    resp->set_version("0.1.0");
    resp->set_uptime_seconds(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
            .count());
    resp->set_running(s.stats.running);
    resp->set_waiting(s.stats.waiting + s.queued);
    resp->set_kv_blocks_total(s.kv_blocks_total);
    resp->set_kv_blocks_free(s.kv_blocks_free);
    resp->set_prompt_tokens(s.stats.prompt_tokens);
    resp->set_generated_tokens(s.stats.generated_tokens);
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }

  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* ctx,
                                     const pb::TokenizeRequest* req,
                                     pb::TokenizeResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    auto result = [&]() -> Status {
      if (!encoder) {
        return invalid_argument("this server has no tokenizer (" + options.no_tokenizer_reason +
                                ")");
      }
      std::string text;
      bool add_special = true;
      if (req->input_case() == pb::TokenizeRequest::kText) {
        text = req->text();
      } else if (req->input_case() == pb::TokenizeRequest::kChat) {
        SIEVE_ASSIGN_OR_RETURN(ChatTemplateInput in, chat_input(req->chat()));
        SIEVE_ASSIGN_OR_RETURN(text, encoder->render_chat(in));
        add_special = false;
      } else {
        return invalid_argument("TokenizeRequest needs an input: text or chat");
      }
      if (req->has_add_special_tokens()) add_special = req->add_special_tokens();
      SIEVE_ASSIGN_OR_RETURN(auto ids, encoder->encode(text, add_special));
      for (int32_t id : ids) {
        resp->add_token_ids(id);
        resp->add_tokens(encoder->tokenizer()->id_to_token(id).value_or(""));
      }
      resp->set_max_model_len(options.max_model_len);
      return Status::Ok();
    }();
    r->Finish(result.ok() ? grpc::Status::OK : to_grpc(result));
    return r;
  }
};

GrpcFrontend::GrpcFrontend(ServingLoop& loop, const PromptEncoder* encoder,
                           const ModelConfig& config, Metrics& metrics, FrontendOptions options)
    : impl_(std::make_unique<Impl>(loop, encoder, config, metrics, std::move(options))) {}

GrpcFrontend::~GrpcFrontend() {
  stop(std::chrono::milliseconds(0));
}

Result<int> GrpcFrontend::start(const std::string& host, int port) {
  grpc::ServerBuilder b;
  int bound = 0;
  const std::string addr =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  b.AddListeningPort(addr, grpc::InsecureServerCredentials(), &bound);
  b.RegisterService(impl_.get());
  impl_->server = b.BuildAndStart();
  if (!impl_->server || bound == 0) {
    return invalid_argument("cannot listen for gRPC on " + addr);
  }
  return bound;
}

void GrpcFrontend::begin_shutdown() {
  impl_->shutting_down = true;
}

void GrpcFrontend::stop(std::chrono::milliseconds deadline) {
  if (!impl_->server) return;
  impl_->shutting_down = true;
  impl_->server->Shutdown(std::chrono::system_clock::now() + deadline);
  impl_->server->Wait();
  impl_->server.reset();
}

}  // namespace sieve::server

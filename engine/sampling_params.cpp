#include "engine/sampling_params.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <variant>

#include <nlohmann/json.hpp>

namespace sieve {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kInt32Min = std::numeric_limits<int32_t>::min();
constexpr double kInt32Max = std::numeric_limits<int32_t>::max();

// Where a field lives; its C++ type decides its JSON type.
using Target =
    std::variant<int64_t SamplingParams::*, float SamplingParams::*, bool SamplingParams::*,
                 std::optional<uint64_t> SamplingParams::*,
                 std::optional<int64_t> SamplingParams::*, std::vector<int32_t> SamplingParams::*,
                 std::vector<std::string> SamplingParams::*, int64_t GenerationRequest::*>;

// Bounds of a numeric field (integers and numbers; numbers must also be finite).
struct Range {
  double lo = -kInf, hi = kInf;
  bool lo_open = false, hi_open = false;
};

struct Field {
  RequestParamInfo info;
  Target target;
  Range range;
  // Lists of strings: at most max_items, each 1 to max_item_bytes bytes.
  int64_t max_items = 0, max_item_bytes = 0;
};

using P = SamplingParams;

// The schema. Order is the documentation's.
const Field kFields[] = {
    {{"max_tokens", "integer", "tokens to generate at most (default 16; capped by the context)"},
     &P::max_tokens,
     {1, kInt32Max}},
    {{"temperature", "number", "0 is greedy (default 1)"}, &P::temperature, {0, kInf}},
    {{"top_p", "number", "keep the most likely tokens up to this probability mass, in (0, 1]"},
     &P::top_p,
     {0, 1, true, false}},
    {{"top_k", "integer", "keep the k most likely tokens; 0 or -1: all (default 0)"},
     &P::top_k,
     {-1, kInt32Max}},
    {{"min_p", "number", "drop tokens below min_p times the top probability, in [0, 1]"},
     &P::min_p,
     {0, 1}},
    {{"presence_penalty", "number", "subtracted once from every token in the output, [-2, 2]"},
     &P::presence_penalty,
     {-2, 2}},
    {{"frequency_penalty", "number", "subtracted per occurrence in the output, [-2, 2]"},
     &P::frequency_penalty,
     {-2, 2}},
    {{"repetition_penalty", "number", "divides the logits of tokens seen so far, > 0 (1: off)"},
     &P::repetition_penalty,
     {0, kInf, true, false}},
    {{"seed", "integer", "the request's own random stream (default: the server's seed)"},
     &P::seed,
     {}},
    {{"stop", "string or strings", "end the output where one of these appears (at most 16)"},
     &P::stop,
     {},
     16,
     1024},
    {{"stop_token_ids", "token ids", "end the output at any of these tokens"},
     &P::stop_token_ids,
     {}},
    {{"ignore_eos", "boolean", "keep generating past the end-of-sequence token"},
     &P::ignore_eos,
     {}},
    {{"include_stop_str_in_output", "boolean", "keep the stop string that ended the output"},
     &P::include_stop_str_in_output,
     {}},
    {{"skip_special_tokens", "boolean", "leave special tokens out of the text (default true)"},
     &P::skip_special_tokens,
     {}},
    {{"logprobs", "integer", "log-probabilities of each sampled token and the N most likely, 0-20"},
     &P::logprobs,
     {0, 20}},
    {{"prompt_logprobs", "integer", "the same for every prompt token after the first, 0-20"},
     &P::prompt_logprobs,
     {0, 20}},
    {{"priority", "integer", "lower runs first (default 0)"},
     &GenerationRequest::priority,
     {kInt32Min, kInt32Max}},
};

const std::vector<RequestParamInfo>& infos() {
  static const std::vector<RequestParamInfo> k = [] {
    std::vector<RequestParamInfo> v;
    for (const Field& f : kFields)
      v.push_back(f.info);
    return v;
  }();
  return k;
}

const Field* find_field(std::string_view name) {
  for (const Field& f : kFields) {
    if (f.info.name == name) return &f;
  }
  return nullptr;
}

std::string number_text(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<int64_t>(v));
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

ParamError error(const Field& f, const std::string& what) {
  return {std::string(f.info.name), "'" + std::string(f.info.name) + "' " + what};
}

template <class Json>
ParamError wrong_type(const Field& f, const std::string& want, const Json& got) {
  std::string shown = got.dump();
  if (shown.size() > 80) shown = shown.substr(0, 77) + "...";
  return error(f, "must be " + want + ", got " + shown);
}

template <class Json>
std::optional<ParamError> read_int(const Field& f, const Json& v, int64_t& out) {
  if (!v.is_number_integer()) return wrong_type(f, "an integer", v);
  if (v.is_number_unsigned() && v.template get<uint64_t>() > std::numeric_limits<int64_t>::max()) {
    return wrong_type(f, "an integer that fits in 64 bits", v);
  }
  out = v.template get<int64_t>();
  return std::nullopt;
}

template <class Json>
std::optional<ParamError> read_value(const Field& f, const Json& v, GenerationRequest& r) {
  SamplingParams& p = r.params;
  return std::visit(
      [&](auto member) -> std::optional<ParamError> {
        using M = decltype(member);
        if constexpr (std::is_same_v<M, int64_t SamplingParams::*>) {
          return read_int(f, v, p.*member);
        } else if constexpr (std::is_same_v<M, int64_t GenerationRequest::*>) {
          return read_int(f, v, r.*member);
        } else if constexpr (std::is_same_v<M, std::optional<int64_t> SamplingParams::*>) {
          int64_t x = 0;
          if (auto e = read_int(f, v, x)) return e;
          p.*member = x;
        } else if constexpr (std::is_same_v<M, std::optional<uint64_t> SamplingParams::*>) {
          // Any 64-bit integer; a negative seed is taken modulo 2^64, as a cast would.
          if (!v.is_number_integer()) return wrong_type(f, "an integer", v);
          p.*member = v.is_number_unsigned() ? v.template get<uint64_t>()
                                             : static_cast<uint64_t>(v.template get<int64_t>());
        } else if constexpr (std::is_same_v<M, float SamplingParams::*>) {
          if (!v.is_number()) return wrong_type(f, "a number", v);
          p.*member = static_cast<float>(v.template get<double>());
        } else if constexpr (std::is_same_v<M, bool SamplingParams::*>) {
          if (!v.is_boolean()) return wrong_type(f, "true or false", v);
          p.*member = v.template get<bool>();
        } else if constexpr (std::is_same_v<M, std::vector<int32_t> SamplingParams::*>) {
          if (!v.is_array()) return wrong_type(f, "a list of token ids", v);
          std::vector<int32_t> ids;
          for (const auto& t : v) {
            if (!t.is_number_integer() || t.template get<int64_t>() < 0 ||
                t.template get<int64_t>() > std::numeric_limits<int32_t>::max()) {
              return wrong_type(f, "a list of non-negative token ids", t);
            }
            ids.push_back(static_cast<int32_t>(t.template get<int64_t>()));
          }
          p.*member = std::move(ids);
        } else if constexpr (std::is_same_v<M, std::vector<std::string> SamplingParams::*>) {
          std::vector<std::string> strings;
          if (v.is_string()) {
            strings.push_back(v.template get<std::string>());
          } else if (v.is_array()) {
            for (const auto& s : v) {
              if (!s.is_string()) return wrong_type(f, "a string or a list of strings", v);
              strings.push_back(s.template get<std::string>());
            }
          } else {
            return wrong_type(f, "a string or a list of strings", v);
          }
          p.*member = std::move(strings);
        }
        return std::nullopt;
      },
      f.target);
}

template <class Json>
std::optional<ParamError> read_named(std::string_view name, const Json& value,
                                     GenerationRequest& request) {
  const Field* f = find_field(name);
  SIEVE_CHECK_MSG(f != nullptr, "not a request parameter: " << name);
  if (value.is_null()) return std::nullopt;
  return read_value(*f, value, request);
}

std::optional<ParamError> check_range(const Field& f, double v) {
  const Range& r = f.range;
  const bool low = r.lo_open ? !(v > r.lo) : !(v >= r.lo);
  const bool high = r.hi_open ? !(v < r.hi) : !(v <= r.hi);
  if (!low && !high) return std::nullopt;
  const std::string got = ", got " + number_text(v);
  if (std::isinf(r.hi)) {
    return error(f, std::string("must be ") + (r.lo_open ? "more than " : "at least ") +
                        number_text(r.lo) + got);
  }
  if (std::fabs(r.lo) > 1e6 || std::fabs(r.hi) > 1e6) {
    return error(f, low ? "must be at least " + number_text(r.lo) + got
                        : "must be at most " + number_text(r.hi) + got);
  }
  if (!r.lo_open && !r.hi_open) {
    return error(f, "must be between " + number_text(r.lo) + " and " + number_text(r.hi) + got);
  }
  return error(f, std::string("must be in ") + (r.lo_open ? "(" : "[") + number_text(r.lo) + ", " +
                      number_text(r.hi) + (r.hi_open ? ")" : "]") + got);
}

std::optional<ParamError> check_field(const Field& f, const GenerationRequest& r) {
  const SamplingParams& p = r.params;
  return std::visit(
      [&](auto member) -> std::optional<ParamError> {
        using M = decltype(member);
        if constexpr (std::is_same_v<M, int64_t SamplingParams::*>) {
          return check_range(f, static_cast<double>(p.*member));
        } else if constexpr (std::is_same_v<M, int64_t GenerationRequest::*>) {
          return check_range(f, static_cast<double>(r.*member));
        } else if constexpr (std::is_same_v<M, std::optional<int64_t> SamplingParams::*>) {
          if (p.*member) return check_range(f, static_cast<double>(*(p.*member)));
        } else if constexpr (std::is_same_v<M, float SamplingParams::*>) {
          const float v = p.*member;
          if (!std::isfinite(v)) return error(f, "must be a finite number, got " + number_text(v));
          return check_range(f, v);
        } else if constexpr (std::is_same_v<M, std::vector<std::string> SamplingParams::*>) {
          const auto& items = p.*member;
          if (static_cast<int64_t>(items.size()) > f.max_items) {
            return error(f, "takes at most " + std::to_string(f.max_items) + " strings, got " +
                                std::to_string(items.size()));
          }
          for (const std::string& s : items) {
            if (s.empty()) return error(f, "must not hold an empty string");
            if (static_cast<int64_t>(s.size()) > f.max_item_bytes) {
              return error(
                  f, "strings must be at most " + std::to_string(f.max_item_bytes) + " bytes");
            }
          }
        }
        return std::nullopt;
      },
      f.target);
}

}  // namespace

std::span<const RequestParamInfo> request_param_fields() {
  return infos();
}

bool is_request_param(std::string_view name) {
  return find_field(name) != nullptr;
}

std::optional<ParamError> read_request_param(std::string_view name,
                                             const nlohmann::ordered_json& value,
                                             GenerationRequest& request) {
  return read_named(name, value, request);
}

std::optional<ParamError> read_request_param(std::string_view name, const nlohmann::json& value,
                                             GenerationRequest& request) {
  return read_named(name, value, request);
}

std::optional<ParamError> check_request_params(const GenerationRequest& request) {
  for (const Field& f : kFields) {
    if (auto e = check_field(f, request)) return e;
  }
  return std::nullopt;
}

Status validate_sampling(const SamplingParams& p, int64_t vocab_size) {
  GenerationRequest r;
  r.params = p;
  if (auto e = check_request_params(r)) return invalid_argument(e->message);
  for (int32_t t : p.stop_token_ids) {
    if (t < 0 || t >= vocab_size) {
      return invalid_argument("'stop_token_ids': " + std::to_string(t) +
                              " is outside the vocabulary [0, " + std::to_string(vocab_size) + ")");
    }
  }
  return Status::Ok();
}

nlohmann::json write_request_params(const GenerationRequest& request) {
  const SamplingParams& p = request.params;
  nlohmann::json out = nlohmann::json::object();
  for (const Field& f : kFields) {
    nlohmann::json& v = out[std::string(f.info.name)];
    std::visit(
        [&](auto member) {
          using M = decltype(member);
          if constexpr (std::is_same_v<M, int64_t GenerationRequest::*>) {
            v = request.*member;
          } else if constexpr (std::is_same_v<M, std::optional<int64_t> SamplingParams::*> ||
                               std::is_same_v<M, std::optional<uint64_t> SamplingParams::*>) {
            v = p.*member ? nlohmann::json(*(p.*member)) : nlohmann::json(nullptr);
          } else {
            v = p.*member;
          }
        },
        f.target);
  }
  return out;
}

Status read_all_request_params(const nlohmann::json& fields, GenerationRequest& request) {
  if (!fields.is_object()) return invalid_argument("request parameters: not an object");
  for (const Field& f : kFields) {
    auto it = fields.find(std::string(f.info.name));
    if (it == fields.end()) {
      return invalid_argument("request parameters: '" + std::string(f.info.name) + "' missing");
    }
    if (auto e = read_named(f.info.name, *it, request)) return invalid_argument(e->message);
  }
  return Status::Ok();
}

}  // namespace sieve

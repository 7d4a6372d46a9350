#define PCRE2_CODE_UNIT_WIDTH 8
#include "engine/text/tokenizer/regex.h"

#include <pcre2.h>

#include <string>

#include "engine/text/tokenizer/utf8.h"

namespace sieve::tok {

struct Regex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

namespace {

// Per-thread match state: one ovector pair is all we read, and a JIT stack big enough for long
// runs of a repeated class.
struct MatchState {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, nullptr);
  MatchState() { pcre2_jit_stack_assign(context, nullptr, stack); }
  ~MatchState() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

MatchState& match_state() {
  thread_local MatchState state;
  return state;
}

}  // namespace

Result<Regex> Regex::compile(std::string_view pattern, bool literal, std::string_view what) {
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  uint32_t options = PCRE2_UTF | PCRE2_UCP;
  if (literal) options = PCRE2_UTF | PCRE2_LITERAL;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &err, &err_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    return invalid_argument(std::string(what) + ": regex does not compile at offset " +
                            std::to_string(err_offset) + ": " + reinterpret_cast<const char*>(msg));
  }
  auto c = std::make_shared<Code>();
  c->code = code;
  c->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  Regex r;
  r.code_ = std::move(c);
  return r;
}

void Regex::find_all(std::string_view s, std::vector<Span>& out) const {
  MatchState& st = match_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  size_t pos = 0;
  while (pos <= s.size()) {
    const int rc =
        code_->jit ? pcre2_jit_match(code_->code, subject, s.size(), pos, 0, st.data, st.context)
                   : pcre2_match(code_->code, subject, s.size(), pos, PCRE2_NO_UTF_CHECK, st.data,
                                 st.context);
    if (rc < 0) {
      SIEVE_CHECK_MSG(rc == PCRE2_ERROR_NOMATCH, "PCRE2 match failed with code " << rc);
      break;
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
    const auto b = static_cast<uint32_t>(ov[0]), e = static_cast<uint32_t>(ov[1]);
    out.emplace_back(b, e);
    if (e > b) {
      pos = e;
    } else {
      if (e >= s.size()) break;
      pos = e + utf8_len(static_cast<unsigned char>(s[e]));
    }
  }
}

}  // namespace sieve::tok

// Errors by kind.
//  - Invariants that only a bug can break: SIEVE_CHECK*, which abort with file, line and values.
//  - Anything a user or a file can cause: a Status / Result<T> value with a code and a message.
//    server/ maps codes to HTTP/gRPC errors; the engine never throws across a thread.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <utility>
#include <variant>

namespace sieve {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // a request or flag the user can fix
  kNotFound,            // a file or tensor that is not there
  kDataLoss,            // a file that is truncated or corrupt
  kUnimplemented,       // valid input that sieve does not support (yet)
  kResourceExhausted,   // out of memory, KV pages, ...
  kFailedPrecondition,  // state that does not allow the call
  kUnavailable,         // shutting down; try again elsewhere or later
  kInternal,            // should not happen
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status not_found(std::string m) {
  return {StatusCode::kNotFound, std::move(m)};
}
inline Status data_loss(std::string m) {
  return {StatusCode::kDataLoss, std::move(m)};
}
inline Status unimplemented(std::string m) {
  return {StatusCode::kUnimplemented, std::move(m)};
}
inline Status resource_exhausted(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
inline Status failed_precondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status unavailable(std::string m) {
  return {StatusCode::kUnavailable, std::move(m)};
}
inline Status internal_error(std::string m) {
  return {StatusCode::kInternal, std::move(m)};
}

// A value or the Status that explains why there is none.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {
    if (std::get<Status>(v_).ok()) v_ = Status(StatusCode::kInternal, "Result built from OK");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

[[noreturn]] void check_failed(const char* file, int line, const char* expr,
                               const std::string& msg);

}  // namespace sieve

#define SIEVE_CHECK(cond)                                              \
  do {                                                                 \
    if (!(cond)) ::sieve::check_failed(__FILE__, __LINE__, #cond, ""); \
  } while (0)

#define SIEVE_CHECK_MSG(cond, msg)                                             \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::ostringstream sieve_check_os_;                                      \
      sieve_check_os_ << msg;                                                  \
      ::sieve::check_failed(__FILE__, __LINE__, #cond, sieve_check_os_.str()); \
    }                                                                          \
  } while (0)

#define SIEVE_CHECK_OP(a, op, b)                                                           \
  do {                                                                                     \
    const auto& sieve_a_ = (a);                                                            \
    const auto& sieve_b_ = (b);                                                            \
    if (!(sieve_a_ op sieve_b_)) {                                                         \
      std::ostringstream sieve_check_os_;                                                  \
      sieve_check_os_ << sieve_a_ << " vs " << sieve_b_;                                   \
      ::sieve::check_failed(__FILE__, __LINE__, #a " " #op " " #b, sieve_check_os_.str()); \
    }                                                                                      \
  } while (0)

#define SIEVE_CHECK_EQ(a, b) SIEVE_CHECK_OP(a, ==, b)
#define SIEVE_CHECK_LE(a, b) SIEVE_CHECK_OP(a, <=, b)
#define SIEVE_CHECK_LT(a, b) SIEVE_CHECK_OP(a, <, b)
#define SIEVE_CHECK_GE(a, b) SIEVE_CHECK_OP(a, >=, b)
#define SIEVE_CHECK_GT(a, b) SIEVE_CHECK_OP(a, >, b)

#define SIEVE_CONCAT_INNER_(a, b) a##b
#define SIEVE_CONCAT_(a, b) SIEVE_CONCAT_INNER_(a, b)

#define SIEVE_RETURN_IF_ERROR(expr)        \
  do {                                     \
    ::sieve::Status sieve_st_ = (expr);    \
    if (!sieve_st_.ok()) return sieve_st_; \
  } while (0)

#define SIEVE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

#define SIEVE_ASSIGN_OR_RETURN(lhs, expr) \
  SIEVE_ASSIGN_OR_RETURN_IMPL_(SIEVE_CONCAT_(sieve_res_, __LINE__), lhs, expr)

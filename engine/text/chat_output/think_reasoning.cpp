#include "engine/text/chat_output/think_reasoning.h"

#include <algorithm>
#include <string>

namespace sieve {

ReasoningSyntax think_reasoning(ThinkStyle style, const Tokenizer& tokenizer,
                                std::span<const int32_t> prompt) {
  ReasoningSyntax s;
  // The last few ids hold the generation prompt's end ("<think>\n", "</think>\n\n").
  constexpr size_t kTail = 16;
  const auto tail = prompt.subspan(prompt.size() - std::min(prompt.size(), kTail));
  Result<std::string> text = tokenizer.decode(tail, /*skip_special_tokens=*/false);
  std::string end = text.ok() ? *text : std::string();
  while (!end.empty() && (end.back() == '\n' || end.back() == ' '))
    end.pop_back();
  const bool opened = end.ends_with(s.open), closed = end.ends_with(s.close);
  s.starts_inside = style == ThinkStyle::kQwen3 ? opened : !closed;
  return s;
}

}  // namespace sieve

// Reasoning in a <think>…</think> block, as Qwen3 and DeepSeek-R1 write it. The two differ in
// where the block starts:
//  - qwen3: the model opens it itself ("<think>\n…\n</think>\n\n" then the answer), unless the
//    prompt already did (templates that end the generation prompt with "<think>\n"); with
//    enable_thinking false the template writes an empty block, and the output is all content.
//  - deepseek_r1: the output is reasoning until </think> (R1's template opens the block in the
//    generation prompt, and earlier R1 releases opened it in their output), unless the prompt
//    already closed it.
// So where the output starts is read off the end of the request's own prompt.
#pragma once

#include <cstdint>
#include <span>

#include "engine/text/chat_output/marked_output_parser.h"
#include "engine/text/tokenizer/tokenizer.h"

namespace sieve {

enum class ThinkStyle { kQwen3, kDeepSeekR1 };

// The reasoning block of a request whose prompt ids are `prompt`.
ReasoningSyntax think_reasoning(ThinkStyle style, const Tokenizer& tokenizer,
                                std::span<const int32_t> prompt);

}  // namespace sieve

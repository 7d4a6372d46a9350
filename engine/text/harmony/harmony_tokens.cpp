#include "engine/text/harmony/harmony_tokens.h"

#include <algorithm>
#include <string>
#include <string_view>

#include "engine/text/prompt_encoder.h"

namespace sieve {

std::optional<HarmonyTokens> HarmonyTokens::find(const Tokenizer& tokenizer) {
  HarmonyTokens t;
  struct Named {
    const char* name;
    int32_t* id;
  };
  const Named all[] = {
      {"<|start|>", &t.start},     {"<|channel|>", &t.channel}, {"<|constrain|>", &t.constrain},
      {"<|message|>", &t.message}, {"<|end|>", &t.end},         {"<|call|>", &t.call},
      {"<|return|>", &t.ret}};
  for (const Named& n : all) {
    const std::optional<int32_t> id = tokenizer.token_to_id(n.name);
    // Markers that were split into ordinary text tokens could not be parsed from ids.
    if (!id || !tokenizer.is_special(*id)) return std::nullopt;
    *n.id = *id;
  }
  return t;
}

std::optional<HarmonyTokens> detect_harmony(const PromptEncoder& encoder) {
  std::optional<HarmonyTokens> tokens = HarmonyTokens::find(*encoder.tokenizer());
  if (!tokens || !encoder.has_chat_template()) return std::nullopt;
  // The tokens alone do not make the format: a fine-tune may keep the vocabulary and change the
  // template. What the parser relies on is that the generation prompt leaves the model inside an
  // assistant header, so that is what is checked.
  ChatTemplateInput probe;
  probe.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "Hi"}}});
  probe.add_generation_prompt = true;
  const Result<std::string> rendered = encoder.render_chat(probe);
  if (!rendered.ok()) return std::nullopt;
  constexpr std::string_view kOpen = "<|start|>assistant";
  if (!std::string_view(*rendered).ends_with(kOpen)) return std::nullopt;
  return tokens;
}

void add_harmony_stop_tokens(const HarmonyTokens& tokens, std::vector<int32_t>& stop_token_ids) {
  for (int32_t id : {tokens.ret, tokens.call}) {
    if (std::find(stop_token_ids.begin(), stop_token_ids.end(), id) == stop_token_ids.end())
      stop_token_ids.push_back(id);
  }
}

}  // namespace sieve

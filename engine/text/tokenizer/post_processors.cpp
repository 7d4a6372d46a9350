#include "engine/text/tokenizer/post_processors.h"

#include <string>

#include <nlohmann/json.hpp>

namespace sieve::tok {
namespace {

using nlohmann::json;

// Ids before and after the sequence.
class Wrap final : public PostProcessor {
 public:
  std::vector<int32_t> before, after;
  void process(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), before.begin(), before.end());
    ids.insert(ids.end(), after.begin(), after.end());
  }
};

class Nothing final : public PostProcessor {
 public:
  void process(std::vector<int32_t>&) const override {}
};

class SequencePost final : public PostProcessor {
 public:
  std::vector<std::unique_ptr<PostProcessor>> steps;
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& p : steps)
      p->process(ids);
  }
};

}  // namespace

Result<std::unique_ptr<PostProcessor>> parse_post_processor(const json& j,
                                                            std::string_view origin) {
  if (j.is_null()) return std::unique_ptr<PostProcessor>();
  const std::string where(origin);
  const std::string type = j.at("type").get<std::string>();
  if (type == "ByteLevel") return std::unique_ptr<PostProcessor>(new Nothing);
  if (type == "TemplateProcessing") {
    auto w = std::make_unique<Wrap>();
    bool seen_sequence = false;
    for (const json& item : j.at("single")) {
      if (item.contains("Sequence")) {
        const std::string id = item.at("Sequence").at("id").get<std::string>();
        if (id != "A" || seen_sequence) {
          return unimplemented(where + ": TemplateProcessing single template with sequence \"" +
                               id + "\" is not supported");
        }
        seen_sequence = true;
      } else if (item.contains("SpecialToken")) {
        const std::string id = item.at("SpecialToken").at("id").get<std::string>();
        const json& specials = j.at("special_tokens");
        if (!specials.contains(id)) {
          return invalid_argument(where + ": TemplateProcessing names special token \"" + id +
                                  "\" that special_tokens does not define");
        }
        auto& dst = seen_sequence ? w->after : w->before;
        for (const json& v : specials.at(id).at("ids"))
          dst.push_back(v.get<int32_t>());
      } else {
        return unimplemented(where + ": TemplateProcessing item " + item.dump() +
                             " is not supported");
      }
    }
    if (!seen_sequence) {
      return invalid_argument(where + ": TemplateProcessing single template has no sequence $A");
    }
    return std::unique_ptr<PostProcessor>(std::move(w));
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    auto w = std::make_unique<Wrap>();
    w->before.push_back(j.at("cls").at(1).get<int32_t>());
    w->after.push_back(j.at("sep").at(1).get<int32_t>());
    return std::unique_ptr<PostProcessor>(std::move(w));
  }
  if (type == "Sequence") {
    auto seq = std::make_unique<SequencePost>();
    for (const json& p : j.at("processors")) {
      SIEVE_ASSIGN_OR_RETURN(auto step, parse_post_processor(p, origin));
      if (step) seq->steps.push_back(std::move(step));
    }
    return std::unique_ptr<PostProcessor>(std::move(seq));
  }
  return unimplemented(where + ": post_processor type \"" + type + "\" is not supported");
}

}  // namespace sieve::tok

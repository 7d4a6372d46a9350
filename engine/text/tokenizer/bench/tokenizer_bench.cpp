// Encode throughput of sieve's tokenizer, one thread, on text cut into ~4 KB chunks.
//
//   sieve-tokenizer-bench --write-corpus corpus.txt --golden-dir <fixtures>/golden/tokenize
//   sieve-tokenizer-bench --tokenizer tokenizer.json --corpus corpus.txt [--ids-out ids.bin]
//   sieve-tokenizer-bench --tokenizer tokenizer.json --pathological
//
// Chunks end at the last UTF-8 character boundary at or before 4096 bytes, the same rule as
// tools/bench/tokenizer/reference_bench.js, so both sides encode identical strings. --ids-out
// writes, per chunk, an int32 count then the ids (little-endian) for the mismatch check.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "engine/text/tokenizer/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kProse = R"(The harbour was quiet that morning. Fishing boats rocked against
the pier while gulls argued over scraps; a woman in a yellow coat counted crates, wrote the
number in a small notebook, and crossed it out twice. "Forty-two," she said at last, "and one
that smells of oranges." Nobody answered. In the town above, shutters opened one by one, the
baker's radio played a song from 1987, and the clock on the church tower, as usual, was
seven minutes slow. Résumé, naïve café, Zürich, São Paulo, Kraków — names travel well.
Le petit déjeuner est servi à huit heures. Der schnelle braune Fuchs springt über den faulen
Hund. Быстрая коричневая лиса прыгает через ленивую собаку. 敏捷的棕色狐狸跳过了懒狗。
素早い茶色の狐がのろまな犬を飛び越える。 빠른 갈색 여우가 게으른 개를 뛰어넘는다. 🦊🐕✨
)";

constexpr const char* kCode = R"(#include <vector>
// Returns the running maximum of `xs`.
template <class T>
std::vector<T> running_max(const std::vector<T>& xs) {
  std::vector<T> out;
  out.reserve(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    out.push_back(i == 0 ? xs[i] : std::max(out.back(), xs[i]));
  }
  return out;
}

def fib(n: int) -> int:
    """Iterative Fibonacci; fib(0) == 0."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a

SELECT user_id, COUNT(*) AS n FROM events WHERE ts >= '2024-01-01' GROUP BY user_id HAVING n > 10;
{"id": 12345, "name": "widget", "tags": ["a", "b"], "price": 19.99, "ok": true}
)";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    std::exit(2);
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// About `target` bytes: golden strings of every model, prose and code, repeated.
std::string make_corpus(const std::string& golden_dir, size_t target) {
  std::string unit;
  for (const char* name : {"qwen3", "gpt-oss", "deepseek-v3"}) {
    std::istringstream lines(read_file(golden_dir + "/" + name + ".jsonl"));
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      unit += nlohmann::json::parse(line).at("text").get<std::string>();
      unit += "\n";
    }
  }
  for (int i = 0; i < 4; ++i) {
    unit += kProse;
    unit += kCode;
  }
  std::string corpus;
  while (corpus.size() < target)
    corpus += unit;
  return corpus;
}

std::vector<std::string_view> chunks_of(std::string_view text, size_t size) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = std::min(text.size(), pos + size);
    while (end < text.size() && end > pos && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
      --end;
    out.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Records separated by U+001E (for differential tests on many short strings).
std::vector<std::string_view> records_of(std::string_view text) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\x1e', pos);
    if (end == std::string_view::npos) end = text.size();
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

int run_corpus(const sieve::Tokenizer& tok, const std::string& corpus_path,
               const std::string& ids_out, int repeats, bool records) {
  const std::string corpus = read_file(corpus_path);
  const auto chunks = records ? records_of(corpus) : chunks_of(corpus, 4096);
  std::vector<std::vector<int32_t>> ids(chunks.size());
  double best = 1e30, first = 0, cold = 0;
  size_t cold_bytes = 0;
  const size_t cold_chunks = std::min<size_t>(chunks.size(), 32);
  size_t total_ids = 0;
  for (int r = 0; r < repeats; ++r) {
    total_ids = 0;
    const auto t0 = Clock::now();
    for (size_t i = 0; i < chunks.size(); ++i) {
      auto res = tok.encode(chunks[i], false);
      if (!res.ok()) {
        std::fprintf(stderr, "encode failed: %s\n", res.status().to_string().c_str());
        return 1;
      }
      total_ids += res->size();
      ids[i] = std::move(*res);
      if (r == 0 && i < cold_chunks) cold_bytes += chunks[i].size();
      if (r == 0 && i + 1 == cold_chunks) cold = seconds_since(t0);
    }
    const double s = seconds_since(t0);
    if (r == 0) first = s;
    best = std::min(best, s);
  }
  const double mb = corpus.size() / 1e6;
  // The first pass starts with an empty word cache; later passes find every word cached. The
  // first 32 chunks (distinct text, empty cache) give the cold figure.
  std::printf(
      "ours_mb_per_s=%.2f warm_mb_per_s=%.2f cold_mb_per_s=%.2f bytes=%zu chunks=%zu "
      "ids=%zu\n",
      mb / first, mb / best, cold_bytes / 1e6 / cold, corpus.size(), chunks.size(), total_ids);
  if (!ids_out.empty()) {
    std::ofstream out(ids_out, std::ios::binary);
    for (const auto& v : ids) {
      const auto n = static_cast<int32_t>(v.size());
      out.write(reinterpret_cast<const char*>(&n), sizeof(n));
      out.write(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int32_t));
    }
  }
  return 0;
}

void run_pathological(const sieve::Tokenizer& tok) {
  const size_t n = 1 << 20;
  std::string no_spaces;
  while (no_spaces.size() < n)
    no_spaces += "abcdefghijklmnopqrstuvwxyzThequickbrownfox";
  const std::pair<const char*, std::string> cases[] = {
      {"1MB_no_spaces", no_spaces},
      {"1MB_of_a", std::string(n, 'a')},
      {"1MB_of_space", std::string(n, ' ')},
  };
  for (const auto& [name, text] : cases) {
    const auto t0 = Clock::now();
    auto res = tok.encode(text, false);
    const double s = seconds_since(t0);
    std::printf("pathological %s: %.3f s (%zu ids)\n", name, s, res.ok() ? res->size() : 0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sieve tokenizer encode throughput"};
  std::string tokenizer, corpus, write_corpus, golden_dir, ids_out;
  double corpus_mb = 8.0;
  int repeats = 3;
  bool pathological = false;
  bool records = false;
  app.add_option("--tokenizer", tokenizer, "tokenizer.json");
  app.add_option("--corpus", corpus, "corpus file to encode");
  app.add_option("--write-corpus", write_corpus, "write the mixed corpus here and exit");
  app.add_option("--golden-dir", golden_dir, "fixtures/golden/tokenize (for --write-corpus)");
  app.add_option("--corpus-mb", corpus_mb, "corpus size for --write-corpus");
  app.add_option("--ids-out", ids_out, "write the ids of every chunk here");
  app.add_option("--repeats", repeats, "passes over the corpus; the best is reported");
  app.add_flag("--pathological", pathological, "time 1 MB inputs without spaces / of one byte");
  app.add_flag("--records", records, "split the corpus at U+001E instead of 4 KB chunks");
  CLI11_PARSE(app, argc, argv);

  if (!write_corpus.empty()) {
    if (golden_dir.empty()) {
      std::fprintf(stderr, "--write-corpus needs --golden-dir\n");
      return 2;
    }
    const std::string text = make_corpus(golden_dir, static_cast<size_t>(corpus_mb * 1e6));
    std::ofstream(write_corpus, std::ios::binary) << text;
    std::printf("corpus: %zu bytes in %s\n", text.size(), write_corpus.c_str());
    return 0;
  }
  if (tokenizer.empty()) {
    std::fprintf(stderr, "--tokenizer is required\n");
    return 2;
  }
  const auto t0 = Clock::now();
  auto tok = sieve::Tokenizer::load(tokenizer);
  if (!tok.ok()) {
    std::fprintf(stderr, "%s\n", tok.status().to_string().c_str());
    return 1;
  }
  std::printf("load: %.2f s\n", seconds_since(t0));
  if (pathological) run_pathological(**tok);
  if (!corpus.empty()) return run_corpus(**tok, corpus, ids_out, repeats, records);
  return 0;
}

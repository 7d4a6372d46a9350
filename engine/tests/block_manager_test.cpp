// KV page bookkeeping: all-or-nothing growth, reference counts, prefix matching by exact
// token prefix, cached pages reused until evicted least-recently-freed first.
#include "engine/block_manager.h"

#include <numeric>

#include <gtest/gtest.h>

namespace sieve {
namespace {

std::vector<int32_t> iota_tokens(int n, int start = 100) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), start);
  return t;
}

TEST(BlockManager, GrowIsAllOrNothing) {
  BlockManager m(4, 4, true);
  std::vector<int32_t> a, b;
  EXPECT_TRUE(m.grow(a, 9));  // 3 pages
  EXPECT_EQ(a.size(), 3u);
  EXPECT_TRUE(m.grow(a, 12));  // still 3
  EXPECT_EQ(m.num_free(), 1);
  EXPECT_FALSE(m.grow(b, 5));  // needs 2, has 1: nothing taken
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(m.num_free(), 1);
  m.release(a);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(m.num_free(), 4);
}

TEST(BlockManager, MatchesFullPagesOfTheSamePrefixButNeverTheLastToken) {
  BlockManager m(16, 4, true);
  const auto tokens = iota_tokens(10);
  std::vector<int32_t> a;
  ASSERT_TRUE(m.grow(a, 10));
  int64_t registered = 0;
  m.register_full_pages(tokens, a, 10, registered);
  EXPECT_EQ(registered, 2);  // the third page holds 2 of 4 tokens
  EXPECT_EQ(m.num_cached(), 2);

  std::vector<int32_t> b;
  EXPECT_EQ(m.match_prefix(tokens, b), 8);
  EXPECT_EQ(b, std::vector<int32_t>(a.begin(), a.begin() + 2));  // shared pages
  // Exactly 8 tokens: the last must be computed, so only the first page matches.
  std::vector<int32_t> c;
  EXPECT_EQ(m.match_prefix(std::span(tokens).first(8), c), 4);
  // A different first page: nothing matches, even though the second page's tokens agree.
  auto other = tokens;
  other[0] = 7;
  std::vector<int32_t> d;
  EXPECT_EQ(m.match_prefix(other, d), 0);
  m.release(b);
  m.release(c);
  m.release(a);
  EXPECT_EQ(m.num_free(), 16);
  EXPECT_EQ(m.num_cached(), 2);  // freed, but still cached
}

TEST(BlockManager, CachedPagesAreReusedThenEvictedOldestFirst) {
  BlockManager m(4, 2, true);
  const auto x = iota_tokens(5, 0), y = iota_tokens(5, 50);
  std::vector<int32_t> a;
  int64_t reg = 0;
  ASSERT_TRUE(m.grow(a, 4));
  m.register_full_pages(x, a, 4, reg);
  const std::vector<int32_t> x_pages = a;
  m.release(a);  // x's pages: cached free
  EXPECT_EQ(m.num_free(), 4);
  EXPECT_EQ(m.num_cached(), 2);

  // Taking 3 pages uses the 2 plain free ones first, then evicts one of x's: the tail page
  // (released first, so least recently freed), which leaves x's head page matchable.
  std::vector<int32_t> b;
  ASSERT_TRUE(m.grow(b, 6));
  EXPECT_EQ(m.num_cached(), 1);
  EXPECT_EQ(b.back(), x_pages[1]);
  std::vector<int32_t> c;
  EXPECT_EQ(m.match_prefix(x, c), 2);
  EXPECT_EQ(c[0], x_pages[0]);
  EXPECT_EQ(m.num_free(), 0);
  // y matches nothing and finds no page: growth fails without side effects.
  std::vector<int32_t> d;
  EXPECT_EQ(m.match_prefix(y, d), 0);
  EXPECT_FALSE(m.grow(d, 2));
  m.release(b);
  m.release(c);
  EXPECT_EQ(m.num_free(), 4);
}

TEST(BlockManager, ADuplicateComputedMeanwhileStaysPrivate) {
  BlockManager m(8, 2, true);
  const auto t = iota_tokens(4);
  std::vector<int32_t> a, b;
  int64_t ra = 0, rb = 0;
  ASSERT_TRUE(m.grow(a, 4));
  ASSERT_TRUE(m.grow(b, 4));  // the same prompt admitted before a's pages were registered
  m.register_full_pages(t, a, 4, ra);
  m.register_full_pages(t, b, 4, rb);
  EXPECT_EQ(m.num_cached(), 2);  // a owns the prefix
  m.release(b);                  // b's copies go straight back to the free list
  m.release(a);
  EXPECT_EQ(m.num_cached(), 2);
  std::vector<int32_t> c;
  EXPECT_EQ(m.match_prefix(iota_tokens(5), c), 4);
  m.release(c);
}

TEST(BlockManager, WithoutPrefixCachingNothingIsKept) {
  BlockManager m(4, 2, false);
  const auto t = iota_tokens(5);
  std::vector<int32_t> a;
  int64_t reg = 0;
  ASSERT_TRUE(m.grow(a, 4));
  m.register_full_pages(t, a, 4, reg);
  m.release(a);
  EXPECT_EQ(m.num_cached(), 0);
  std::vector<int32_t> b;
  EXPECT_EQ(m.match_prefix(t, b), 0);
}

}  // namespace
}  // namespace sieve

// RouteLimiter, the counting behind limit-conn and limit-count, with the clock given by the test.
#include "server/route_limiter.h"

#include <gtest/gtest.h>

namespace {

using kpg::server::RouteLimiter;
using Clock = std::chrono::steady_clock;

RouteLimiter::Admission* admitted(std::variant<RouteLimiter::Admission, RouteLimiter::Refusal>& v) {
  return std::get_if<RouteLimiter::Admission>(&v);
}

std::shared_ptr<RouteLimiter> limiter(std::optional<int> conn, std::optional<int> count,
                                      int window_s = 10) {
  kpg::config::RouteLimits limits;
  if (conn) {
    limits.limit_conn.emplace();
    limits.limit_conn->conn = *conn;
  }
  if (count) {
    limits.limit_count.emplace();
    limits.limit_count->count = *count;
    limits.limit_count->time_window = window_s;
  }
  return std::make_shared<RouteLimiter>(limits);
}

TEST(RouteLimiter, ConnectionsAreCountedPerKeyUntilTheirHoldIsReleased) {
  auto l = limiter(2, std::nullopt);
  auto a = l->admit("10.0.0.1", "");
  auto b = l->admit("10.0.0.1", "");
  ASSERT_TRUE(admitted(a) && admitted(b));
  auto c = l->admit("10.0.0.1", "");
  ASSERT_FALSE(admitted(c));
  EXPECT_EQ(std::get<RouteLimiter::Refusal>(c).status, 503);
  EXPECT_TRUE(admitted(*std::make_unique<decltype(c)>(l->admit("10.0.0.2", ""))));
  admitted(a)->hold.reset();
  auto d = l->admit("10.0.0.1", "");
  EXPECT_TRUE(admitted(d));
}

TEST(RouteLimiter, ARefusedConnectionUsesUpNoCount) {
  auto l = limiter(1, 2);
  const auto t = Clock::now();
  auto a = l->admit("a", "", t);
  ASSERT_TRUE(admitted(a));
  for (int i = 0; i < 5; ++i)
    EXPECT_FALSE(admitted(*std::make_unique<decltype(a)>(l->admit("a", "", t))));
  admitted(a)->hold.reset();
  auto b = l->admit("a", "", t);
  EXPECT_TRUE(admitted(b)) << "limit-conn refusals did not use the count of 2";
}

TEST(RouteLimiter, WindowsResetAndEndedOnesAreForgotten) {
  auto l = limiter(std::nullopt, 1, 10);
  const auto t = Clock::now();
  for (int i = 0; i < 5000; ++i) {
    auto v = l->admit("10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256), "", t);
    ASSERT_TRUE(admitted(v));
  }
  auto again = l->admit("10.1.0.0", "", t + std::chrono::seconds(9));
  EXPECT_FALSE(admitted(again));
  EXPECT_EQ(std::get<RouteLimiter::Refusal>(again).headers.at(2).second, "1") << "reset in 1 s";
  auto later = l->admit("10.1.0.0", "", t + std::chrono::seconds(10));
  EXPECT_TRUE(admitted(later)) << "a new window";
  // Clients of ended windows are swept as new ones arrive (whenever the table has doubled):
  // memory follows the live windows, not every client ever seen.
  for (int i = 0; i < 6000; ++i) {
    auto v = l->admit("10.2." + std::to_string(i / 256) + "." + std::to_string(i % 256), "",
                      t + std::chrono::seconds(20));
    ASSERT_TRUE(admitted(v));
  }
  EXPECT_EQ(l->tracked_keys(), 6000u) << "the 5000 ended windows were forgotten";
}

}  // namespace

// Shutdown of the real gateway process: every Kafka source is destroyed (its threads joined, its
// connections closed) before the process exits, whatever the sessions were doing.
#include "admin_fixture.h"

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using kpg::testing::RawSocket;
using verb = boost::beast::http::verb;

class ShutdownTest : public kpg::testing::AdminFixture {
 protected:
  // SIGTERM; expects a bounded drain, exit code 0 and no Kafka source left behind.
  void expect_clean_stop() {
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(gateway_.process->stop(SIGTERM, 10s), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);  // drain: 3 s at most
    const std::string& transcript = gateway_.process->transcript();
    EXPECT_NE(transcript.find("event=stopped"), std::string::npos) << transcript;
    EXPECT_EQ(transcript.find("event=kafka_sources_leaked"), std::string::npos) << transcript;
  }
};

TEST_F(ShutdownTest, SessionWithAFetchInFlightReleasesItsSource) {
  ASSERT_EQ(admin(verb::put, "/apisix/admin/routes/s", route("/s").dump()).status, 201);
  RawSocket session(gateway_.port, "/s");
  session.send_binary(kpg::testing::fetch_frame(1, "orders", 0, 3));  // at the end: long poll
  expect_clean_stop();
  while (session.receive()) {
  }
  EXPECT_EQ(session.close_code(), 1001);
}

// The client never answers the close frame: the drain gives up after 3 s with the session still
// open, and its source must still be destroyed (it used to be handed to the reaper after the
// reaper had been joined, and never destroyed).
TEST_F(ShutdownTest, SessionThatNeverAnswersTheCloseReleasesItsSource) {
  ASSERT_EQ(admin(verb::put, "/apisix/admin/routes/s", route("/s").dump()).status, 201);
  RawSocket session(gateway_.port, "/s");
  session.send_binary(kpg::testing::ping_frame(1, "x"));
  ASSERT_TRUE(session.receive());
  expect_clean_stop();
}

}  // namespace

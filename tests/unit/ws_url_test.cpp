#include <kpg/sdk/ws_url.h>

#include <gtest/gtest.h>

TEST(WsUrl, ParsesHostsPortsAndTargets) {
  auto u = kpg::sdk::parse_ws_url("ws://127.0.0.1:9080/kafka?x=1");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->secure);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "9080");
  EXPECT_EQ(u->target, "/kafka?x=1");
  auto d = kpg::sdk::parse_ws_url("wss://example.com");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->secure);
  EXPECT_EQ(d->port, "443");
  EXPECT_EQ(d->target, "/");
  auto v6 = kpg::sdk::parse_ws_url("ws://[::1]:81/k");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, "81");
}

TEST(WsUrl, RejectsMalformedUrlsWithAReason) {
  std::string why;
  EXPECT_FALSE(kpg::sdk::parse_ws_url("http://h/", &why));
  EXPECT_NE(why.find("ws://"), std::string::npos);
  EXPECT_FALSE(kpg::sdk::parse_ws_url("ws://h:99999/", &why));
  EXPECT_NE(why.find("range"), std::string::npos);
  EXPECT_FALSE(kpg::sdk::parse_ws_url("ws://h:abc/", &why));
  EXPECT_FALSE(kpg::sdk::parse_ws_url("ws:///path", &why));
  EXPECT_FALSE(kpg::sdk::parse_ws_url("ws://[::1/", &why));
}

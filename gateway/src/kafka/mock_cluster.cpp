#include "kafka/mock_cluster.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

namespace kpg::kafka {

struct MockCluster::Impl {
  rd_kafka_t* rk = nullptr;  // the mock cluster runs on this handle's threads
  rd_kafka_mock_cluster_t* cluster = nullptr;
};

MockCluster::MockCluster(int brokers) : impl_(std::make_unique<Impl>()) {
  char errstr[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "client.id", "kpg-mock-cluster", errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  impl_->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!impl_->rk) {
    rd_kafka_conf_destroy(conf);
    throw MockClusterError(std::string("cannot create the mock cluster's handle: ") + errstr);
  }
  impl_->cluster = rd_kafka_mock_cluster_new(impl_->rk, brokers);
  if (!impl_->cluster) {
    rd_kafka_destroy(impl_->rk);
    throw MockClusterError("cannot start the mock cluster");
  }
  // Metadata v0..4 only: v4+ carries allow_auto_topic_creation=false from our clients, so an
  // unknown topic is reported as such instead of being created on first use.
  rd_kafka_mock_set_apiversion(impl_->cluster, 3 /* Metadata */, 0, 4);
}

MockCluster::~MockCluster() {
  rd_kafka_mock_cluster_destroy(impl_->cluster);
  rd_kafka_destroy(impl_->rk);
}

std::string MockCluster::bootstrap() const {
  return rd_kafka_mock_cluster_bootstraps(impl_->cluster);
}

bool MockCluster::create_topic(const std::string& name, int partitions, std::string* error) {
  const auto err = rd_kafka_mock_topic_create(impl_->cluster, name.c_str(), partitions, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (error) *error = rd_kafka_err2str(err);
    return false;
  }
  return true;
}

}  // namespace kpg::kafka

// kpg-bench-filter: what server-side filters cost the gateway, per record, side by side with
// what it pays for every batch anyway (encoding it once for all its readers).
//
// Part 1, per filter kind: batches like the read engine makes (records encoded once into a shared
// body) are filtered the way a subscription filters them (RecordFilter::apply: the body read in
// place, the matching records' bytes copied into the filtered body). Each round uses new batch
// objects, so every row measures a real evaluation, never the cache. Rows:
//   encode (baseline)  encode_messages over the same records: the per-batch cost without filters;
//   key_equals, key_prefix, header, json_in, json_compare, and all of them at once.
//
// Part 2, fan-out: S subscribers on one partition receive the same batches (as at the head of a
// hot partition), with (a) no filter, (b) S/10 subscribers on each of 10 distinct filters,
// interned as the gateway interns them, (c) the same 10 filters but one private copy per
// subscriber (what it would cost without sharing). Figures: filter CPU per batch record, and
// evaluations made.
//
// Single-threaded, in-process: no sockets, no Kafka. The end-to-end view (real gateway, real
// WebSockets) is kpg-bench-fanout --filters.
#include "pubsub/frames.h"
#include "pubsub/record_filter.h"

#include <kpg/pubsub.pb.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace {

using kpg::kafka::BatchPtr;
using kpg::kafka::Record;
using kpg::pubsub::FilterPtr;
using kpg::pubsub::JsonFieldCompare;
using kpg::pubsub::KafkaFilter;
using Clock = std::chrono::steady_clock;

// Orders like the demo's: ~230 bytes of JSON, a customer key, a tenant and a region header.
std::vector<Record> make_records(int n) {
  static const char* customers[] = {"ada", "grace", "linus", "margaret", "dennis", "barbara"};
  static const char* regions[] = {"eu", "us", "apac", "latam"};
  std::vector<Record> out;
  for (int i = 0; i < n; ++i) {
    const std::string customer = customers[i % 6];
    const std::string region = regions[(i / 7) % 4];
    std::string value = R"({"order_id":"ord-)" + std::to_string(100000 + i) + R"(","customer":")" +
                        customer + R"(","item":"mechanical keyboard","quantity":)" +
                        std::to_string(1 + i % 3) + R"(,"unit_price_cents":12900,"total_cents":)" +
                        std::to_string(12900 * (1 + i % 3)) +
                        R"(,"currency":"EUR","ship_to":{"city":"Lisbon","region":")" + region +
                        R"("},"status":"paid","created_at_ms":1764500000000})";
    out.push_back(Record{i,
                         1764500000000 + i,
                         "customer-" + customer,
                         std::move(value),
                         {{"tenant", "t" + std::to_string(i % 10)}, {"region", region}}});
  }
  return out;
}

BatchPtr make_batch(const std::vector<Record>& records, const std::string& body) {
  auto b = std::make_shared<kpg::kafka::RecordBatch>();
  b->first_offset = records.front().offset;
  b->next_offset = records.back().offset + 1;
  b->high_watermark = b->next_offset;
  b->records = records.size();
  b->body = body;
  return b;
}

FilterPtr compile(const KafkaFilter& f) {
  auto result = kpg::pubsub::compile_filter(&f);
  if (auto* why = std::get_if<std::string>(&result)) {
    std::cerr << "kpg-bench-filter: filter refused: " << *why << "\n";
    std::exit(2);
  }
  return std::get<FilterPtr>(result);
}

KafkaFilter key_equals(const std::string& k) {
  KafkaFilter f;
  f.add_all()->set_key_equals(k);
  return f;
}
KafkaFilter key_prefix(const std::string& p) {
  KafkaFilter f;
  f.add_all()->set_key_prefix(p);
  return f;
}
KafkaFilter header(const std::string& k, const std::string& v) {
  KafkaFilter f;
  f.add_all()->mutable_header()->set_key(k);
  f.mutable_all(0)->mutable_header()->set_value(v);
  return f;
}
KafkaFilter json_in(const std::string& path, std::vector<std::string> values) {
  KafkaFilter f;
  auto* in = f.add_all()->mutable_json_in();
  in->set_path(path);
  for (auto& v : values) in->add_values()->set_string_value(v);
  return f;
}
KafkaFilter json_compare(const std::string& path, JsonFieldCompare::Op op, double v) {
  KafkaFilter f;
  auto* c = f.add_all()->mutable_json_compare();
  c->set_path(path);
  c->set_op(op);
  c->set_value(v);
  return f;
}
KafkaFilter all_of(std::vector<KafkaFilter> parts) {
  KafkaFilter f;
  for (auto& p : parts) {
    for (auto& c : p.all()) *f.add_all() = c;
  }
  return f;
}

double ns_per(Clock::duration d, double n) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()) / n;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kpg-bench-filter: cost of server-side record filters, per record and in fan-out"};
  int batch_records = 500;
  int rounds = 200;
  int subscribers = 1000;
  app.add_option("--batch", batch_records, "records per batch")->check(CLI::Range(1, 100000));
  app.add_option("--rounds", rounds, "batches per row")->check(CLI::Range(1, 1000000));
  app.add_option("--subscribers", subscribers, "fan-out: subscribers of the partition")
      ->check(CLI::Range(10, 100000));
  app.set_version_flag("--version", "kpg-bench-filter " KPG_VERSION);
  CLI11_PARSE(app, argc, argv);

  const auto records = make_records(batch_records);
  const std::string body = kpg::pubsub::encode_messages(records, /*with_headers=*/true);
  const double total = static_cast<double>(batch_records) * rounds;
  std::printf("kpg-bench-filter: %d records/batch (%zu body bytes, %.0f bytes/record), %d rounds\n",
              batch_records, body.size(), static_cast<double>(body.size()) / batch_records, rounds);

  // ---- part 1 ----
  const auto encode_start = Clock::now();
  std::size_t sink = 0;
  for (int r = 0; r < rounds; ++r) sink += kpg::pubsub::encode_messages(records, true).size();
  const double encode_ns = ns_per(Clock::now() - encode_start, total);
  std::printf("\n%-50s %12s %10s %12s\n", "filter kind", "ns/record", "matched", "vs encode");
  std::printf("%-50s %12.1f %10s %12s\n", "encode (baseline: paid once per batch)", encode_ns, "-",
              "1.00x");
  struct Row {
    const char* name;
    KafkaFilter filter;
  };
  const std::vector<Row> rows = {
      {"key_equals customer-ada", key_equals("customer-ada")},
      {"key_prefix customer-", key_prefix("customer-")},
      {"header tenant = t3", header("tenant", "t3")},
      {"json_in /ship_to/region in {eu, apac}", json_in("/ship_to/region", {"eu", "apac"})},
      {"json_compare /total_cents >= 25800",
       json_compare("/total_cents", JsonFieldCompare::GE, 25800)},
      {"all four: header, key_prefix, json_in, json_compare",
       all_of({header("region", "eu"), key_prefix("customer-"), json_in("/status", {"paid"}),
               json_compare("/quantity", JsonFieldCompare::GT, 1)})},
  };
  for (const auto& row : rows) {
    auto filter = compile(row.filter);
    std::vector<BatchPtr> batches;
    for (int r = 0; r < rounds; ++r) batches.push_back(make_batch(records, body));
    std::size_t matched = 0;
    const auto start = Clock::now();
    for (const auto& b : batches) matched += filter->apply(b)->records;
    const double ns = ns_per(Clock::now() - start, total);
    std::printf("%-50s %12.1f %9.1f%% %11.2fx\n", row.name, ns, 100.0 * matched / total,
                ns / encode_ns);
  }

  // ---- part 2 ----
  constexpr int kDistinct = 10;
  kpg::pubsub::FilterRegistry registry;
  std::vector<FilterPtr> shared(static_cast<std::size_t>(subscribers));
  std::vector<FilterPtr> private_copies(static_cast<std::size_t>(subscribers));
  for (int s = 0; s < subscribers; ++s) {
    const auto f = header("tenant", "t" + std::to_string(s % kDistinct));
    shared[static_cast<std::size_t>(s)] = registry.intern(compile(f));
    private_copies[static_cast<std::size_t>(s)] = compile(f);
  }
  const int fan_rounds = std::max(1, rounds / 20);
  const double fan_total = static_cast<double>(batch_records) * fan_rounds;
  auto run = [&](const std::vector<FilterPtr>* filters) {
    std::vector<BatchPtr> batches;
    for (int r = 0; r < fan_rounds; ++r) batches.push_back(make_batch(records, body));
    std::uint64_t delivered = 0;
    const auto start = Clock::now();
    for (const auto& b : batches) {
      for (int s = 0; s < subscribers; ++s) {
        // What each subscriber's connection does with the batch before framing it.
        delivered +=
            filters ? (*filters)[static_cast<std::size_t>(s)]->apply(b)->records : b->records;
      }
    }
    return std::make_pair(ns_per(Clock::now() - start, fan_total), delivered);
  };
  const auto [none_ns, none_delivered] = run(nullptr);
  const auto [shared_ns, shared_delivered] = run(&shared);
  const auto [private_ns, private_delivered] = run(&private_copies);
  std::uint64_t shared_evals = 0;
  std::uint64_t private_evals = 0;
  for (int s = 0; s < kDistinct; ++s)
    shared_evals += shared[static_cast<std::size_t>(s)]->evaluations();
  for (const auto& f : private_copies) private_evals += f->evaluations();
  std::printf("\nfan-out: %d subscribers on one partition, %d batches of %d records\n", subscribers,
              fan_rounds, batch_records);
  std::printf("%-46s %16s %14s %14s\n", "", "ns/batch record", "evaluations", "records out");
  std::printf("%-46s %16.1f %14d %14llu\n", "no filter (baseline)", none_ns, 0,
              static_cast<unsigned long long>(none_delivered));
  std::printf("%-46s %16.1f %14llu %14llu\n", "10 distinct filters, shared (the gateway)",
              shared_ns, static_cast<unsigned long long>(shared_evals),
              static_cast<unsigned long long>(shared_delivered));
  std::printf("%-46s %16.1f %14llu %14llu\n", "10 distinct filters, one copy per subscriber",
              private_ns, static_cast<unsigned long long>(private_evals),
              static_cast<unsigned long long>(private_delivered));
  std::printf(
      "(ns/batch record: filter work for all %d subscribers per record of the partition; "
      "sink %zu)\n",
      subscribers, sink % 10);
  // What the figures rest on (checked in every run, ctest's included): sharing changes the work,
  // never what a subscriber receives.
  const auto expected_evals = static_cast<std::uint64_t>(kDistinct) * fan_rounds;
  if (shared_delivered != private_delivered || shared_evals != expected_evals ||
      private_evals != static_cast<std::uint64_t>(subscribers) * fan_rounds) {
    std::fprintf(stderr,
                 "kpg-bench-filter: FAILED: shared filters delivered %llu records in %llu "
                 "evaluations, private copies %llu in %llu (expected %llu shared evaluations)\n",
                 static_cast<unsigned long long>(shared_delivered),
                 static_cast<unsigned long long>(shared_evals),
                 static_cast<unsigned long long>(private_delivered),
                 static_cast<unsigned long long>(private_evals),
                 static_cast<unsigned long long>(expected_evals));
    return 1;
  }
  return 0;
}

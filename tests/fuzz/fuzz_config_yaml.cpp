// The gateway's YAML configuration reader on any document: load_yaml_string (the in-memory twin
// of load_yaml_file) then validate. Checked: the only exception that leaves either is ConfigError
// (anything else escaping aborts), and its message names the origin.
#include "config/gateway_config.h"
#include "fuzz_check.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  kpg::config::GatewayConfig config;
  try {
    kpg::config::load_yaml_string(text, "fuzz.yaml", config);
  } catch (const kpg::config::ConfigError& e) {
    kpg::fuzz::check(std::string(e.what()).rfind("fuzz.yaml: ", 0) == 0,
                     "a configuration error that does not name the file");
    return 0;
  }
  try {
    kpg::config::validate(config);
  } catch (const kpg::config::ConfigError&) {
  }
  return 0;
}

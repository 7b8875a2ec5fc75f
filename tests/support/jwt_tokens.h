// JSON Web Tokens for tests: signed by libjwt (the library the gateway verifies with), or put
// together by hand for what no signer produces (alg "none", tampered parts).
#pragma once

#include <jwt.h>
#include <openssl/evp.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace kpg::testing {

/// A file of the checked-in test key pairs (tests/data/jwt: rs256-*.pem, es256-*.pem).
inline std::string jwt_test_key(const std::string& name) {
  std::ifstream in(std::string(KPG_TEST_JWT_DIR) + "/" + name);
  if (!in) throw std::runtime_error("missing test key " + name);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// `claims` signed with `alg` ("HS256", "RS256", ...) and `key` (secret or PEM private key).
inline std::string sign_jwt(const std::string& alg, const std::string& key,
                            const nlohmann::json& claims) {
  jwt_t* jwt = nullptr;
  if (jwt_new(&jwt) != 0) throw std::runtime_error("jwt_new failed");
  std::string token;
  if (jwt_add_grants_json(jwt, claims.dump().c_str()) == 0 &&
      jwt_set_alg(jwt, jwt_str_alg(alg.c_str()), reinterpret_cast<const unsigned char*>(key.data()),
                  static_cast<int>(key.size())) == 0) {
    if (char* encoded = jwt_encode_str(jwt)) {
      token = encoded;
      std::free(encoded);
    }
  }
  jwt_free(jwt);
  if (token.empty()) throw std::runtime_error("cannot sign a test token with " + alg);
  return token;
}

inline std::string base64url(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

/// An unsigned token (alg "none"), which must never be accepted.
inline std::string unsigned_jwt(const nlohmann::json& claims) {
  return base64url(R"({"alg":"none","typ":"JWT"})") + "." + base64url(claims.dump()) + ".";
}

}  // namespace kpg::testing

// Uses the installed SDK: connects to the URL given and prints the outcome. Exit 0 when the
// error is the expected kind (the tests point it at a closed port).
#include <kpg/sdk/native_client.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: consumer ws://HOST:PORT/PATH\n";
    return 2;
  }
  kpg::sdk::NativeClient client;
  auto connected = client.connect(argv[1]);
  if (connected) {
    std::cout << "connected\n";
    return 0;
  }
  std::cout << kpg::sdk::to_string(connected.error().code) << ": " << connected.error().message
            << "\n";
  return connected.error().code == kpg::sdk::ErrorCode::transport ? 0 : 1;
}

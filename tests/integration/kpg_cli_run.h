// Runs the kpg command-line tool as a user does, for the CLI integration tests.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace kpg::testing {

struct KpgRun {
  int status = -1;  ///< exit status; -1 when killed
  std::string out;
  std::string err;
};

/// Runs kpg with `args` and `env` entries added to the environment (without the caller's KPG_*
/// variables); output goes through files in `dir`. Waits up to 30 s.
inline KpgRun run_kpg(const std::vector<std::string>& args, const std::filesystem::path& dir,
                      const std::vector<std::string>& env = {}, const std::string& input = {}) {
  std::vector<std::string> argv{KPG_CLI_BIN, "--timeout", "5000"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).substr(0, 4) != "KPG_") envs.emplace_back(*e);
  }
  envs.insert(envs.end(), env.begin(), env.end());
  std::filesystem::create_directories(dir);
  const auto out = dir / "kpg.out";
  const auto err = dir / "kpg.err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // stdin: `input` from a file (empty: an empty file, so kpg never waits on the terminal).
  const auto input_file = dir / "kpg.in";
  std::ofstream(input_file, std::ios::binary) << input;
  posix_spawn_file_actions_addopen(&actions, 0, input_file.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  auto pointers = [](std::vector<std::string>& strings) {
    std::vector<char*> p;
    for (auto& s : strings) p.push_back(s.data());
    p.push_back(nullptr);
    return p;
  };
  auto argp = pointers(argv);
  auto envp = pointers(envs);
  pid_t pid = -1;
  KpgRun run;
  const int spawned =
      posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    ADD_FAILURE() << "cannot start " << argv[0];
    return run;
  }
  int wstatus = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (waitpid(pid, &wstatus, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "kpg did not exit within 30 s";
      kill(pid, SIGKILL);
      waitpid(pid, &wstatus, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto read = [](const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  run.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  run.out = read(out);
  run.err = read(err);
  return run;
}

}  // namespace kpg::testing

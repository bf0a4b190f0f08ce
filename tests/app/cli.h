// Runs the edgecompress binary as a user would and captures exit code, stdout and stderr.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace ec::test {

struct CliResult {
  int rc = -1;
  std::string out, err;
};

inline std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// `args` is appended to the binary's path as shell words (quote them yourself).
inline CliResult run_cli(const std::string& args) {
  static int counter = 0;
  std::string base = "/tmp/ec-cli-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  std::string cmd = std::string("'") + EC_BINARY + "' " + args + " >'" + base + ".out' 2>'" + base + ".err' </dev/null";
  int st = std::system(cmd.c_str());
  CliResult r;
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = slurp(base + ".out");
  r.err = slurp(base + ".err");
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return r;
}

// Runs a bash script (several commands, background jobs, signals) with all its output captured.
inline CliResult run_shell(const std::string& script) {
  static int counter = 0;
  const std::string file = "/tmp/ec-sh-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".sh";
  {
    std::ofstream f(file);
    // waiturl URL: until the server answers at all (any status), polling for at most 60 s, so scripts wait for
    // a starting server however slow the build (sanitizers) or the machine is, instead of sleeping a fixed time
    f << "bin='" << EC_BINARY << "'\n"
      << "waiturl() { for i in $(seq 1 600); do curl -sk -o /dev/null --max-time 2 \"$1\" && return 0; sleep 0.1; done; "
         "echo \"waiturl: $1 did not answer in 60 s\" >&2; return 1; }\n"
      << script << "\n";
  }
  std::string base = file.substr(0, file.size() - 3);
  int st = std::system(("bash '" + file + "' >'" + base + ".out' 2>'" + base + ".err' </dev/null").c_str());
  CliResult r;
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = slurp(base + ".out");
  r.err = slurp(base + ".err");
  for (const char* ext : {".sh", ".out", ".err"}) std::remove((base + ext).c_str());
  return r;
}

}  // namespace ec::test

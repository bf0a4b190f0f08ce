// The command line of edgecompress and its helper: subcommands, options bound to variables, flags,
// positional arguments, help and version. A small front end on Boost.Program_options, which every supported
// release ships (CLI11 is missing from Ubuntu 20.04 and Debian 11). Parsing happens once, in app/; the values
// land in plain option structs that are handed to the libraries.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace ec::cli {

// A usage error (unknown option, missing required value, bad value), or a request for help/version (code 0).
struct ParseError : std::runtime_error {
  ParseError(const std::string& msg, int code) : std::runtime_error(msg), exit_code(code) {}
  int exit_code;  // 0: help or version was printed; 2: usage error
};

// The values an option accepts, checked after parsing ("--layout must be one of: a, b").
struct IsMember {
  explicit IsMember(std::vector<std::string> allowed) : values(std::move(allowed)) {}
  std::vector<std::string> values;
};

class App;

// One option or flag of an App, as added; the setters return the option for chaining.
class Option {
 public:
  Option* required(bool on = true) { required_ = on; return this; }
  // Shows the variable's value at registration as the default in --help.
  Option* capture_default_str() { show_default_ = true; return this; }
  Option* check(const IsMember& m) { allowed_ = m.values; return this; }
  // An empty group hides the option from --help (internal options).
  Option* group(const std::string& g) { hidden_ = g.empty(); return this; }

 // Filled by App and its parser (app/cmdline.cpp); not for callers.
  std::string long_name, short_name, positional, description, default_text, shown_name;
  bool is_flag = false, is_vector = false;
  std::function<void*()> make_semantic;          // a new boost::program_options::value_semantic*
  std::function<std::string()> current_text;     // the bound variable's value, for IsMember checks
  bool is_required() const { return required_; }
  bool shows_default() const { return show_default_; }
  bool is_hidden() const { return hidden_; }
  const std::vector<std::string>& allowed() const { return allowed_; }

 private:
  bool required_ = false, show_default_ = false, hidden_ = false;
  std::vector<std::string> allowed_;
};

class App {
 public:
  explicit App(std::string description, std::string name = "");
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // A subcommand (`edgecompress NAME ...`); owned by this App.
  App* add_subcommand(const std::string& name, const std::string& description);
  // `names`: "--long,-s" for an option, "name" for a positional argument. The variable receives the value
  // when it is given; otherwise it keeps the value it has (the documented default). Vectors take several
  // values (repeated options or a list of positionals).
  Option* add_option(const std::string& names, std::string& var, const std::string& description);
  Option* add_option(const std::string& names, int& var, const std::string& description);
  Option* add_option(const std::string& names, int64_t& var, const std::string& description);
  Option* add_option(const std::string& names, uint32_t& var, const std::string& description);
  Option* add_option(const std::string& names, uint64_t& var, const std::string& description);
  Option* add_option(const std::string& names, float& var, const std::string& description);
  Option* add_option(const std::string& names, double& var, const std::string& description);
  Option* add_option(const std::string& names, std::vector<std::string>& var, const std::string& description);
  Option* add_option(const std::string& names, std::vector<int>& var, const std::string& description);
  // A flag: true when given.
  Option* add_flag(const std::string& names, bool& var, const std::string& description);
  // Calls `fn` with each subcommand, in the order they were added (to give several the same options).
  void for_each_subcommand(const std::function<void(App&)>& fn) {
    for (auto& s : subcommands_) fn(*s);
  }
  // This (sub)command's name ("" for the top level).
  const std::string& name() const { return name_; }
  // Called after a successful parse of this (sub)command.
  void callback(std::function<void()> fn) { callback_ = std::move(fn); }
  // How many times the option (by any of its names, e.g. "--threads") was given in the last parse.
  size_t count(const std::string& name) const;
  // At least `n` (0 or 1) subcommands must be given.
  void require_subcommand(int n) { require_subcommand_ = n; }
  // `--version` prints `text` and exits 0.
  void set_version_flag(const std::string& name, const std::string& text) { version_flag_ = name; version_text_ = text; }
  // Parses argv and runs the callbacks of the app and of the chosen subcommand. Throws ParseError.
  void parse(int argc, char** argv);
  // Prints a ParseError (help/version to stdout, usage errors to stderr as one line) and returns its exit code.
  int exit(const ParseError& e) const;

 private:
  Option* add(const std::string& names, const std::string& description, Option o);
  void parse_args(const std::vector<std::string>& args, const std::string& path);
  std::string help(const std::string& path) const;

  std::string name_, description_;
  std::vector<std::unique_ptr<Option>> options_;
  std::vector<std::unique_ptr<App>> subcommands_;
  std::function<void()> callback_;
  int require_subcommand_ = 0;
  std::string version_flag_, version_text_;
  std::vector<std::pair<std::string, size_t>> counts_;  // option long name -> times given
};

}  // namespace ec::cli

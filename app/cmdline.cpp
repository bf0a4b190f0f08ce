#include "cmdline.h"

#include <boost/program_options.hpp>
#include <boost/shared_ptr.hpp>

#include <cstdio>
#include <sstream>

namespace po = boost::program_options;

namespace ec::cli {
namespace {

template <class T>
std::string to_text(const T& v) {
  std::ostringstream ss;
  ss << v;
  return ss.str();
}
std::string to_text(const std::string& v) { return v; }
template <class T>
std::string to_text(const std::vector<T>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + to_text(v[i]);
  return s;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

template <class T>
Option scalar(T& var) {
  Option o;
  o.make_semantic = [&var]() -> void* { return po::value<T>(&var); };
  o.current_text = [&var] { return to_text(var); };
  o.default_text = to_text(var);
  return o;
}

template <class T>
Option vector(std::vector<T>& var) {
  Option o;
  o.make_semantic = [&var]() -> void* { return po::value<std::vector<T>>(&var)->multitoken(); };
  o.current_text = [&var] { return to_text(var); };
  o.default_text = to_text(var);
  o.is_vector = true;
  return o;
}

}  // namespace

App::App(std::string description, std::string name) : name_(std::move(name)), description_(std::move(description)) {}
App::~App() = default;

App* App::add_subcommand(const std::string& name, const std::string& description) {
  subcommands_.push_back(std::make_unique<App>(description, name));
  return subcommands_.back().get();
}

Option* App::add(const std::string& names, const std::string& description, Option o) {
  o.description = description;
  std::stringstream ss(names);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.rfind("--", 0) == 0) o.long_name = part.substr(2);
    else if (part.rfind("-", 0) == 0) o.short_name = part.substr(1);
    else o.positional = part;
  }
  if (!o.positional.empty() && o.long_name.empty()) o.long_name = o.positional;
  o.shown_name = o.positional.empty() ? "--" + o.long_name : o.positional;
  options_.push_back(std::make_unique<Option>(std::move(o)));
  return options_.back().get();
}

Option* App::add_option(const std::string& n, std::string& v, const std::string& d) { return add(n, d, scalar(v)); }
Option* App::add_option(const std::string& n, int& v, const std::string& d) { return add(n, d, scalar(v)); }
Option* App::add_option(const std::string& n, int64_t& v, const std::string& d) { return add(n, d, scalar(v)); }
Option* App::add_option(const std::string& n, uint32_t& v, const std::string& d) { return add(n, d, scalar(v)); }
Option* App::add_option(const std::string& n, uint64_t& v, const std::string& d) { return add(n, d, scalar(v)); }
Option* App::add_option(const std::string& n, float& v, const std::string& d) { return add(n, d, scalar(v)); }
Option* App::add_option(const std::string& n, double& v, const std::string& d) { return add(n, d, scalar(v)); }
Option* App::add_option(const std::string& n, std::vector<std::string>& v, const std::string& d) { return add(n, d, vector(v)); }
Option* App::add_option(const std::string& n, std::vector<int>& v, const std::string& d) { return add(n, d, vector(v)); }

Option* App::add_flag(const std::string& names, bool& var, const std::string& description) {
  // "!--no-x": a flag that sets `var` to false (var starts true)
  const bool negated = !names.empty() && names[0] == '!';
  Option o;
  o.make_semantic = [&var, negated]() -> void* { return po::value<bool>(&var)->zero_tokens()->implicit_value(!negated); };
  o.current_text = [&var] { return var ? std::string("true") : std::string("false"); };
  o.is_flag = true;
  return add(negated ? names.substr(1) : names, description, std::move(o));
}

size_t App::count(const std::string& name) const {
  std::string key = name;
  while (!key.empty() && key[0] == '-') key.erase(0, 1);
  for (const auto& o : options_)
    if (o->short_name == key) key = o->long_name;
  for (const auto& kv : counts_)
    if (kv.first == key) return kv.second;
  return 0;
}

std::string App::help(const std::string& path) const {
  std::ostringstream out;
  out << description_ << "\n\nUsage: " << path;
  std::vector<std::string> pos;
  for (const auto& o : options_)
    if (!o->positional.empty()) pos.push_back(o->positional + (o->is_vector ? "..." : ""));
  if (!options_.empty()) out << " [OPTIONS]";
  if (!pos.empty()) out << " " << join(pos, " ");
  if (!subcommands_.empty()) out << " SUBCOMMAND";
  out << "\n";
  if (!subcommands_.empty()) {
    out << "\nSubcommands:\n";
    for (const auto& s : subcommands_) out << "  " << s->name_ << std::string(s->name_.size() < 12 ? 12 - s->name_.size() : 1, ' ') << s->description_ << "\n";
  }
  po::options_description shown("Options");
  shown.add_options()("help,h", "Print this help and exit");
  if (!version_flag_.empty()) shown.add_options()(version_flag_.substr(2).c_str(), "Print the version and the build's features");
  for (const auto& o : options_) {
    if (o->is_hidden()) continue;
    std::string text = o->description;
    if (o->shows_default() && !o->default_text.empty()) text += " [default: " + o->default_text + "]";
    if (!o->allowed().empty()) text += " {" + join(o->allowed(), ", ") + "}";
    if (o->is_required()) text += " (required)";
    std::string spec = o->long_name + (o->short_name.empty() ? "" : "," + o->short_name);
    shown.add(boost::shared_ptr<po::option_description>(new po::option_description(spec.c_str(), static_cast<po::value_semantic*>(o->make_semantic()), text.c_str())));
  }
  out << "\n" << shown;
  return out.str();
}

void App::parse(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  std::string path = argc > 0 ? argv[0] : "edgecompress";
  auto slash = path.find_last_of('/');
  if (slash != std::string::npos) path = path.substr(slash + 1);
  parse_args(args, path);
}

void App::parse_args(const std::vector<std::string>& args, const std::string& path) {
  counts_.clear();
  if (!subcommands_.empty()) {
    // a command of subcommands: [--help | --version | SUBCOMMAND args...]
    if (args.empty()) {
      if (require_subcommand_ > 0) throw ParseError(path + ": a subcommand is required (--help lists them)", 2);
      if (callback_) callback_();
      return;
    }
    const std::string& first = args[0];
    if (first == "--help" || first == "-h") throw ParseError(help(path), 0);
    if (!version_flag_.empty() && first == version_flag_) throw ParseError(version_text_, 0);
    for (auto& s : subcommands_)
      if (s->name_ == first) {
        if (callback_) callback_();
        s->parse_args(std::vector<std::string>(args.begin() + 1, args.end()), path + " " + first);
        return;
      }
    std::vector<std::string> names;
    for (auto& s : subcommands_) names.push_back(s->name_);
    throw ParseError(path + ": unknown subcommand '" + first + "' (one of: " + join(names, ", ") + ")", 2);
  }

  po::options_description all;
  all.add_options()("help,h", "help");
  po::positional_options_description pos;
  for (const auto& o : options_) {
    std::string spec = o->long_name + (o->short_name.empty() ? "" : "," + o->short_name);
    all.add(boost::shared_ptr<po::option_description>(new po::option_description(spec.c_str(), static_cast<po::value_semantic*>(o->make_semantic()), "")));
    if (!o->positional.empty()) pos.add(o->long_name.c_str(), o->is_vector ? -1 : 1);
  }
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).style(po::command_line_style::default_style &
                                                                                   ~po::command_line_style::allow_guessing).run(),
              vm);
  } catch (const po::error& e) {
    throw ParseError(path + ": " + e.what(), 2);
  }
  if (vm.count("help")) throw ParseError(help(path), 0);
  for (const auto& o : options_)
    if (o->is_required() && !vm.count(o->long_name)) throw ParseError(path + ": " + o->shown_name + " is required", 2);
  try {
    po::notify(vm);
  } catch (const po::error& e) {
    throw ParseError(path + ": " + e.what(), 2);
  }
  for (const auto& o : options_) {
    counts_.emplace_back(o->long_name, vm.count(o->long_name));
    if (!o->allowed().empty() && vm.count(o->long_name)) {
      const std::string v = o->current_text();
      bool ok = false;
      for (const auto& a : o->allowed()) ok = ok || a == v;
      if (!ok) throw ParseError(path + ": " + o->shown_name + " '" + v + "' is not one of: " + join(o->allowed(), ", "), 2);
    }
  }
  if (callback_) callback_();
}

int App::exit(const ParseError& e) const {
  if (e.exit_code == 0) {
    std::fputs(e.what(), stdout);
    if (std::string(e.what()).back() != '\n') std::fputc('\n', stdout);
  } else {
    std::fprintf(stderr, "%s\n", e.what());
  }
  return e.exit_code;
}

}  // namespace ec::cli

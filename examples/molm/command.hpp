// The molm command line is a list of subcommands. Each one is a name, a one-line summary and a
// function of its own arguments; main() only picks the command. A new command (prepare, train, eval,
// generate, demo, ...) is one header under commands/ and one line in main.cpp.
#pragma once

#include <molm/core/threads.hpp>

#include <boost/program_options.hpp>

#include <functional>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace molm::cli {

/// Exit codes shared by every command.
enum exit_code : int {
  exit_ok = 0,
  exit_failure = 1,  ///< the command ran and failed (bad data, missing file, molm::error)
  exit_usage = 2,    ///< the command line itself is wrong (unknown command or option)
};

/// Thrown for a malformed command line; main() prints it with a hint and exits with exit_usage.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Command {
  std::string name;
  std::string summary;  ///< one line for `molm help`
  /// Runs the command on the arguments after its name; returns the exit code.
  std::function<int(const std::vector<std::string>& args)> run;
};

class CommandRegistry {
 public:
  void add(Command c) { commands_.push_back(std::move(c)); }
  const std::vector<Command>& all() const { return commands_; }

  const Command* find(const std::string& name) const {
    for (const auto& c : commands_)
      if (c.name == name) return &c;
    return nullptr;
  }

  std::string names() const {
    std::string out;
    for (const auto& c : commands_) out += (out.empty() ? "" : ", ") + c.name;
    return out;
  }

 private:
  std::vector<Command> commands_;
};

namespace po = boost::program_options;

/// Parses a command's arguments against `options` (plus --help); turns Boost's errors into
/// usage_error. Returns nullopt when --help was given and the help text has been printed.
/// `positional` names the options that bare arguments fill (e.g. `molm inspect PATH`); `synopsis`
/// is what the usage line shows after the command name.
inline std::optional<po::variables_map> parse_command_line(const std::string& command,
                                                           const std::vector<std::string>& args,
                                                           po::options_description options,
                                                           const po::positional_options_description& positional = {},
                                                           const std::string& synopsis = "[options]") {
  options.add_options()("help,h", "show this help");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: molm " << command << " " << synopsis << "\n\n" << options << "\n";
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw usage_error("molm " + command + ": " + e.what());
  }
  return vm;
}

/// `--threads N` of a command, if given: molm::set_num_threads, so that it wins over
/// MOLM_NUM_THREADS (a bare omp_set_num_threads would be overridden by molm's first
/// num_threads() call, which applies the variable).
inline void apply_threads_option(const po::variables_map& vm, const std::string& command) {
  if (!vm.count("threads")) return;
  const int n = vm["threads"].as<int>();
  if (n < 1) throw usage_error("molm " + command + ": --threads must be at least 1");
  molm::set_num_threads(n);
}

}  // namespace molm::cli

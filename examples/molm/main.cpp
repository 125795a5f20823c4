// molm: the command line. main() only dispatches: `molm <command> [options]` runs one command from
// the registry below; each command parses its own options (commands/*.hpp).
#include "command.hpp"
#include "commands/convert.hpp"
#include "commands/generate.hpp"
#include "commands/help.hpp"
#include "commands/info.hpp"
#include "commands/inspect.hpp"
#ifdef MOLM_HAVE_CHEM
#include "commands/default_data.hpp"
#include "commands/encode.hpp"
#include "commands/prepare.hpp"
#endif
#if defined(MOLM_HAVE_CHEM) && defined(MOLM_HAVE_TEXT)
#include "commands/retrieve.hpp"
#endif
#ifdef MOLM_HAVE_TEXT
#include "commands/eval.hpp"
#include "commands/tokenize.hpp"
#endif

#include <molm/core/error.hpp>
#include <molm/version.hpp>

#include <exception>
#include <iostream>
#include <string>
#include <vector>

namespace {

molm::cli::CommandRegistry make_registry() {
  molm::cli::CommandRegistry registry;
  registry.add(molm::cli::info_command());
  registry.add(molm::cli::inspect_command());
  registry.add(molm::cli::convert_command());
  registry.add(molm::cli::generate_command());
#ifdef MOLM_HAVE_CHEM
  registry.add(molm::cli::prepare_command());
  registry.add(molm::cli::default_data_command());
  registry.add(molm::cli::encode_command());
#endif
#if defined(MOLM_HAVE_CHEM) && defined(MOLM_HAVE_TEXT)
  registry.add(molm::cli::retrieve_command());
#endif
#ifdef MOLM_HAVE_TEXT
  registry.add(molm::cli::tokenize_command());
  registry.add(molm::cli::eval_command());
#endif
  return registry;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace molm::cli;
  CommandRegistry registry = make_registry();
  registry.add(help_command(registry));  // refers to the registry, so it is added last, in place

  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.empty()) {
      print_usage(registry, std::cerr);
      return exit_usage;
    }
    const std::string& first = args[0];
    if (first == "--version" || first == "-V") {
      std::cout << "molm " << molm::version() << "\n";
      return exit_ok;
    }
    if (first == "--help" || first == "-h") {
      print_usage(registry, std::cout);
      return exit_ok;
    }
    if (!first.empty() && first[0] == '-') throw usage_error("molm: unknown option '" + first + "'");

    const Command* command = registry.find(first);
    if (!command)
      throw usage_error("molm: unknown command '" + first + "' (commands: " + registry.names() + ")");
    return command->run(std::vector<std::string>(args.begin() + 1, args.end()));
  } catch (const usage_error& e) {
    std::cerr << e.what() << "\nRun 'molm help' for usage.\n";
    return exit_usage;
  } catch (const molm::error& e) {
    std::cerr << "molm: error: " << e.what() << "\n";
    return exit_failure;
  } catch (const std::exception& e) {
    std::cerr << "molm: unexpected error: " << e.what() << "\n";
    return exit_failure;
  }
}

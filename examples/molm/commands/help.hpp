// `molm help [command]`: the list of commands, or one command's options.
#pragma once

#include "command.hpp"

#include <iostream>

namespace molm::cli {

inline void print_usage(const CommandRegistry& registry, std::ostream& os) {
  os << "usage: molm [--version] [--help] <command> [options]\n\ncommands:\n";
  for (const auto& c : registry.all()) os << "  " << c.name << std::string(12 - c.name.size(), ' ') << c.summary << "\n";
  os << "\nRun 'molm <command> --help' for a command's options.\n";
}

/// `registry` must outlive the command (main() owns both).
inline Command help_command(const CommandRegistry& registry) {
  return {"help", "show this list, or `molm help <command>` for one command's options",
          [&registry](const std::vector<std::string>& args) {
            if (args.empty()) {
              print_usage(registry, std::cout);
              return int(exit_ok);
            }
            const Command* c = registry.find(args[0]);
            if (!c || c->name == "help")
              throw usage_error("molm help: unknown command '" + args[0] + "' (commands: " + registry.names() + ")");
            return c->run({"--help"});
          }};
}

}  // namespace molm::cli

// The reference's prompt (§5.4): stage 2, stage 3 and the released generalist all use it, with the
// SMILES first and eight `<mol>` slots that the Q-Former's outputs fill.
//
//   text::reference_prompt("Describe the input molecule.", smiles)
//   text::reference_prompt(question, smiles, {.instruction_chars = 64})   // stage-3 `Description` items
#pragma once

#include "molm/text/unicode.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace molm::text {

inline constexpr std::string_view kMolToken = "<mol>";
inline constexpr int kMolTokensPerMolecule = 8;
inline constexpr std::string_view kCaptionInstruction = "Describe the input molecule.";

struct PromptOptions {
  std::size_t smiles_chars = 96;                    ///< SMILES[:96] (§5.4)
  std::optional<std::size_t> instruction_chars{};   ///< 64 for stage-3 `Description` instructions (§6.2)
};

/// Python's `s[:n]`: the first n code points.
inline std::string first_code_points(std::string_view s, std::size_t n) {
  const std::u32string cps = decode_utf8(s);
  return cps.size() <= n ? std::string(s) : encode_utf8(std::u32string_view(cps).substr(0, n));
}

inline std::string reference_prompt(std::string_view instruction, std::string_view smiles,
                                    const PromptOptions& options = {}) {
  std::string out =
      "Below is an instruction that describes a task, paired with an input molecule. Write a response that "
      "appropriately completes the request.\nInstruction: ";
  out += options.instruction_chars ? first_code_points(instruction, *options.instruction_chars)
                                   : std::string(instruction);
  out += "\nInput molecule: ";
  out += first_code_points(smiles, options.smiles_chars);
  out += " ";
  for (int i = 0; i < kMolTokensPerMolecule; ++i) out += kMolToken;
  out += ".\nResponse: ";
  return out;
}

}  // namespace molm::text

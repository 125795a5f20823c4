// Uni-Mol input features: atoms + coordinates -> tokens, distances, edge types, exactly as 3D-MoLM
// builds them (data_provider/unimol_dataset.py, D3Dataset). Padded batches of them (D3Collater) are
// data::collate_unimol (data/collate_unimol.hpp).
//
//   auto dict = chem::UnimolDictionary::load("unimol/dict.txt");      // 30 symbols + [MASK] = 31
//   std::vector<std::string> atoms = {"C", "C", "O", "H"};
//   auto f = chem::featurize_unimol(atoms, xyz, dict);                 // xyz: 3·N doubles, Å
//   auto batch = data::collate_unimol(std::vector{f, g});              // the encoder's three inputs
//
// Per molecule (reference-model.md §2.2): drop "H" atoms (unless that leaves none), crop to 256
// atoms by a random permutation, map symbols to ids ([UNK] for unknown ones), centre the float32
// coordinates, add [CLS]/[SEP] at the centroid, edge type = t_i·V + t_j, Euclidean distances.
// The arithmetic follows NumPy's order (float32 mean by a running sum, distances in double from the
// float32 coordinates, then rounded to float32), so the features match the reference bit for bit.
// No RDKit here: chem/featurize_rdkit.hpp adds an overload taking an RDKit molecule.
#pragma once

#include "molm/core/random.hpp"
#include "molm/ops/factory.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace molm::chem {

/// Symbol <-> id table with Uni-Core's `Dictionary` semantics: ids in file order, no symbols of its
/// own, unknown symbols map to [UNK]; 3D-MoLM then appends [MASK].
class UnimolDictionary {
 public:
  /// Read a Uni-Core dictionary file (one `symbol` or `symbol count` per line) and append [MASK].
  /// [PAD], [CLS], [SEP] and [UNK] must be in the file.
  static UnimolDictionary load(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    MOLM_CHECK(in.good(), "unimol_dictionary", "cannot open {}", path.string());
    std::stringstream text;
    text << in.rdbuf();
    return parse(text.str(), path.string());
  }

  /// Parse dictionary text (see load); `where` names the source in error messages.
  static UnimolDictionary parse(std::string_view text, const std::string& where = "<text>") {
    UnimolDictionary d;
    std::size_t line_no = 0;
    while (!text.empty()) {
      // Python's readlines(): a final newline does not start another line.
      const std::size_t nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
      ++line_no;
      while (!line.empty() && is_space(line.back())) line.remove_suffix(1);  // str.rstrip()
      // "symbol count" or "symbol count #overwrite"; without a space the whole line is the symbol
      // (Uni-Core then makes up a count, which molm does not keep).
      bool overwrite = false;
      std::size_t sp = line.rfind(' ');
      if (sp != std::string_view::npos) {
        std::string_view field = line.substr(sp + 1);
        line = line.substr(0, sp);
        if (field == "#overwrite") {
          overwrite = true;
          sp = line.rfind(' ');
          MOLM_CHECK(sp != std::string_view::npos, "unimol_dictionary", "{} line {}: '#overwrite' needs a count",
                     where, line_no);
          field = line.substr(sp + 1);
          line = line.substr(0, sp);
        }
        MOLM_CHECK(is_integer(field), "unimol_dictionary",
                   "{} line {}: expected '<symbol> <count> [flags]', got count '{}'", where, line_no, field);
      }
      const std::string symbol(line);
      if (overwrite || !d.contains(symbol)) d.add(symbol);  // a repeated symbol keeps its first id
    }
    for (const char* special : {"[PAD]", "[CLS]", "[SEP]", "[UNK]"})
      MOLM_CHECK(d.contains(special), "unimol_dictionary", "{} has no {} symbol", where, special);
    if (!d.contains("[MASK]")) d.add("[MASK]");
    return d;
  }

  /// The table 3D-MoLM and the pretrained Uni-Mol weights use (reference-model.md §2.1), for when
  /// dict.txt is not at hand; load() of that file gives the same table.
  static UnimolDictionary reference() {
    static constexpr const char* kSymbols[] = {"[PAD]", "[CLS]", "[SEP]", "[UNK]", "C",  "N",  "O",  "S",
                                               "H",     "Cl",    "F",     "Br",    "I",  "Si", "P",  "B",
                                               "Na",    "K",     "Al",    "Ca",    "Sn", "As", "Hg", "Fe",
                                               "Zn",    "Cr",    "Se",    "Gd",    "Au", "Li", "[MASK]"};
    UnimolDictionary d;
    for (const char* s : kSymbols) d.add(s);
    return d;
  }

  /// Number of symbols (31 for 3D-MoLM); edge types range over size()².
  std::int64_t size() const { return static_cast<std::int64_t>(symbols_.size()); }
  bool contains(const std::string& symbol) const { return ids_.count(symbol) != 0; }
  /// The id of `symbol`, or unk() when the table does not have it (matching is case-sensitive).
  std::int64_t index(const std::string& symbol) const {
    const auto it = ids_.find(symbol);
    return it == ids_.end() ? unk() : it->second;
  }
  const std::string& symbol(std::int64_t id) const {
    MOLM_CHECK(id >= 0 && id < size(), "unimol_dictionary", "id {} out of range [0, {})", id, size());
    return symbols_[static_cast<std::size_t>(id)];
  }
  const std::vector<std::string>& symbols() const { return symbols_; }

  std::int64_t pad() const { return ids_.at("[PAD]"); }
  std::int64_t bos() const { return ids_.at("[CLS]"); }
  std::int64_t eos() const { return ids_.at("[SEP]"); }
  std::int64_t unk() const { return ids_.at("[UNK]"); }
  std::int64_t mask() const { return ids_.at("[MASK]"); }

  bool operator==(const UnimolDictionary& o) const { return symbols_ == o.symbols_ && ids_ == o.ids_; }

 private:
  static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }
  static bool is_integer(std::string_view s) {  // what Python's int() accepts here, signs included
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
    if (s.empty()) return false;
    for (char c : s)
      if (c < '0' || c > '9') return false;
    return true;
  }
  void add(const std::string& symbol) {
    ids_[symbol] = size();
    symbols_.push_back(symbol);
  }

  std::vector<std::string> symbols_;
  std::unordered_map<std::string, std::int64_t> ids_;
};

struct UnimolFeatureOptions {
  /// Crop molecules with more (heavy) atoms to a random subset of this many; 0 = never crop.
  std::int64_t max_atoms = 256;
  /// Drop atoms whose symbol is exactly "H" (the released encoder is Uni-Mol's no-H model).
  bool remove_hydrogens = true;
};

/// The reference's hard limit on atoms after cropping (an assert in D3Dataset).
inline constexpr std::int64_t kUnimolAtomLimit = 512;

/// One molecule's encoder input; n = kept atoms + 2 ([CLS] first, [SEP] last).
struct UnimolFeatures {
  Tensor tokens;       // i64 [n]
  Tensor coordinates;  // f64 [n, 3]: centred float32 values, specials at 0 (the reference's dtype)
  Tensor distances;    // f32 [n, n]
  Tensor edge_types;   // i64 [n, n], tokens[i] * V + tokens[j]
  /// For tokens 1 … n-2: the index of that atom in the input (hydrogens removed, crop order).
  std::vector<std::int64_t> atom_index;

  std::int64_t num_tokens() const { return tokens.numel(); }
};

/// Featurize one molecule: `symbols` are element symbols as RDKit writes them, `xyz` holds
/// 3·symbols.size() coordinates in Å (x0 y0 z0 x1 …). `gen` drives the crop of molecules with more
/// than max_atoms atoms (the reference draws from NumPy's global RNG); without one a Generator(0)
/// is used, so the crop is deterministic.
inline UnimolFeatures featurize_unimol(std::span<const std::string> symbols, std::span<const double> xyz,
                                       const UnimolDictionary& dict, const UnimolFeatureOptions& options = {},
                                       Generator* gen = nullptr) {
  const auto n_in = static_cast<std::int64_t>(symbols.size());
  MOLM_CHECK(n_in > 0, "featurize_unimol", "the molecule has no atoms");
  MOLM_CHECK(xyz.size() == 3 * symbols.size(), "featurize_unimol",
             "{} atoms need {} coordinates (x, y, z each), got {}", n_in, 3 * n_in, xyz.size());
  MOLM_CHECK(options.max_atoms >= 0, "featurize_unimol", "max_atoms must be >= 0, got {}", options.max_atoms);
  for (std::size_t k = 0; k < xyz.size(); ++k)
    MOLM_CHECK(std::isfinite(xyz[k]), "featurize_unimol", "coordinate {} of atom {} is not finite ({})", "xyz"[k % 3],
               k / 3, xyz[k]);

  // Hydrogens go first, unless the molecule is nothing but hydrogens (then all atoms stay).
  std::vector<std::int64_t> kept;
  if (options.remove_hydrogens)
    for (std::int64_t i = 0; i < n_in; ++i)
      if (symbols[static_cast<std::size_t>(i)] != "H") kept.push_back(i);
  if (kept.empty())
    for (std::int64_t i = 0; i < n_in; ++i) kept.push_back(i);

  // Crop: the first max_atoms of a random permutation, so the kept atoms come shuffled.
  if (options.max_atoms > 0 && static_cast<std::int64_t>(kept.size()) > options.max_atoms) {
    Generator fallback(0);
    Generator& g = gen ? *gen : fallback;
    const auto perm = random_permutation(static_cast<std::int64_t>(kept.size()), g.seed(), g.next_offset());
    std::vector<std::int64_t> cropped(static_cast<std::size_t>(options.max_atoms));
    for (std::size_t k = 0; k < cropped.size(); ++k) cropped[k] = kept[static_cast<std::size_t>(perm[k])];
    kept = std::move(cropped);
  }
  const auto m = static_cast<std::int64_t>(kept.size());
  MOLM_CHECK(m <= kUnimolAtomLimit, "featurize_unimol", "{} atoms after cropping; Uni-Mol takes at most {}", m,
             kUnimolAtomLimit);

  // The reference casts to float32 before anything else and centres in float32; NumPy's mean over
  // axis 0 is a running sum down the rows, then one division by the count.
  const auto u = [](std::int64_t i) { return static_cast<std::size_t>(i); };
  std::vector<float> c(u(3 * m));
  for (std::int64_t a = 0; a < m; ++a)
    for (int k = 0; k < 3; ++k) c[u(3 * a + k)] = static_cast<float>(xyz[u(3 * kept[u(a)] + k)]);
  float mean[3] = {0.0f, 0.0f, 0.0f};
  for (std::int64_t a = 0; a < m; ++a)
    for (int k = 0; k < 3; ++k) mean[k] += c[u(3 * a + k)];
  for (float& v : mean) v /= static_cast<float>(m);
  for (std::int64_t a = 0; a < m; ++a)
    for (int k = 0; k < 3; ++k) c[u(3 * a + k)] -= mean[k];

  const std::int64_t n = m + 2;
  UnimolFeatures f;
  f.atom_index = kept;
  f.tokens = Tensor::empty({n}, DType::i64);
  f.coordinates = zeros({n, 3}, DType::f64);  // rows 0 and n-1 ([CLS], [SEP]) stay at the centroid
  f.distances = Tensor::empty({n, n}, DType::f32);
  f.edge_types = Tensor::empty({n, n}, DType::i64);
  std::int64_t* tok = f.tokens.data<std::int64_t>();
  double* pos = f.coordinates.data<double>();
  tok[0] = dict.bos();
  tok[n - 1] = dict.eos();
  for (std::int64_t a = 0; a < m; ++a) {
    tok[a + 1] = dict.index(symbols[u(kept[u(a)])]);
    for (int k = 0; k < 3; ++k) pos[3 * (a + 1) + k] = c[u(3 * a + k)];
  }

  // scipy's distance_matrix: (Σ_k (p_j - p_i)²)^½ in double, summed x, y, z in order; then float32.
  float* dist = f.distances.data<float>();
  std::int64_t* edge = f.edge_types.data<std::int64_t>();
  const std::int64_t vocab = dict.size();
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const double* pi = pos + 3 * i;
      const double* pj = pos + 3 * j;
      const double dx = pj[0] - pi[0], dy = pj[1] - pi[1], dz = pj[2] - pi[2];
      double s = dx * dx;
      s += dy * dy;
      s += dz * dz;
      dist[i * n + j] = static_cast<float>(std::sqrt(s));
      edge[i * n + j] = tok[i] * vocab + tok[j];
    }
  return f;
}

/// Featurize from a coordinate tensor [N, 3] of any floating dtype (read as double).
inline UnimolFeatures featurize_unimol(std::span<const std::string> symbols, const Tensor& coordinates,
                                       const UnimolDictionary& dict, const UnimolFeatureOptions& options = {},
                                       Generator* gen = nullptr) {
  MOLM_CHECK(coordinates.dim() == 2 && coordinates.size(1) == 3, "featurize_unimol",
             "coordinates must be [N, 3], got {}", coordinates.shape().str());
  MOLM_CHECK(is_floating(coordinates.dtype()), "featurize_unimol", "coordinates must be floating point, got {}",
             name(coordinates.dtype()));
  const Tensor c = coordinates.detach().to(DType::f64).contiguous();
  return featurize_unimol(symbols, std::span<const double>(c.data<double>(), static_cast<std::size_t>(c.numel())), dict,
                          options, gen);
}

}  // namespace molm::chem

// The LMDB files of the 3D-MoIT release (reference-model.md §8.3), read natively: single-file
// environments opened read-only without a lock, whose values are Python pickles of dicts holding
// NumPy arrays. The values go through molm's restricted unpickler (io/pickle.hpp), so a tampered
// file can make a record fail to load but can never run code.
//
//   data::MoitLmdb db("pubchem/train/3d-pubchem.lmdb");
//   for (const auto& key : db.keys()) {
//     data::MoitMolecule m = db.molecule(key);     // atoms (with H), conformers, SMILES, texts
//     Tensor xyz = m.conformers.at(0);            // [n_atoms, 3], f64 as stored
//   }
//
// Two record layouts exist: PubChem (`atoms`, `coordinates` = list of (n,3) arrays, `smiles`,
// `description`, `enriched_description`, `cid`) and PubChemQC (`atoms`, `coordinates_list`, `smi`,
// `cid`). molecule() reads both; raw() gives the whole unpickled dict for anything else.
#pragma once

#include "molm/data/lmdb.hpp"
#include "molm/io/pickle.hpp"

#include <string>
#include <vector>

namespace molm::data {

struct MoitMolecule {
  std::string key;
  std::string cid;                   ///< as stored (str or int in the pickle; text here)
  std::string smiles;                ///< `smiles` (PubChem) or `smi` (PubChemQC)
  std::vector<std::string> atoms;    ///< element symbols, hydrogens included
  std::vector<Tensor> conformers;    ///< each [atoms.size(), 3]
  std::string description;           ///< PubChem only; empty otherwise
  std::string enriched_description;  ///< PubChem only (GPT-enriched text); empty otherwise
};

class MoitLmdb {
 public:
  explicit MoitLmdb(const std::filesystem::path& path)
      : env_(LmdbEnv::open(path, {.read_only = true, .no_lock = true, .map_size = 0})) {}

  std::size_t size() const { return env_.begin(false).size(); }

  /// Every key, in LMDB's (byte) order.
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    env_.begin(false).scan([&](std::string_view k, std::string_view) {
      out.emplace_back(k);
      return true;
    });
    return out;
  }

  /// The unpickled value under `key`; throws molm::error when absent or not a valid safe pickle.
  io::pickle::Result raw(const std::string& key) const {
    auto txn = env_.begin(false);
    const auto v = txn.get(key);
    MOLM_CHECK(v, "3d-moit", "{}: no record '{}'", env_.path().string(), io::detail::printable(key));
    io::pickle::Options options;
    options.source = fmt::format("{}:{}", env_.path().string(), io::detail::printable(key));
    return io::pickle::load(*v, options);  // copies what it keeps, so the transaction may end
  }

  /// The record under `key` as a molecule (either layout); errors name the key and the field.
  MoitMolecule molecule(const std::string& key) const {
    using io::pickle::Kind;
    const io::pickle::Result r = raw(key);
    const std::string where = fmt::format("{}: record '{}'", env_.path().string(), io::detail::printable(key));
    MOLM_CHECK(r.root.is(Kind::dict), "3d-moit", "{} is {}, not a dict", where, r.root.describe());
    const io::pickle::Dict& d = r.root.as_dict();
    auto field = [&](std::initializer_list<const char*> names) -> const io::pickle::Value* {
      for (const char* n : names)
        if (const auto* v = d.find(n)) return v;
      return nullptr;
    };
    auto text = [&](std::initializer_list<const char*> names) -> std::string {
      const auto* v = field(names);
      if (!v || v->is_none()) return {};
      if (v->is(Kind::integer)) return std::to_string(v->as_int());
      MOLM_CHECK(v->is(Kind::string), "3d-moit", "{}: '{}' is {}, not text", where, *names.begin(), v->describe());
      return v->as_string();
    };

    MoitMolecule m;
    m.key = key;
    m.cid = text({"cid"});
    m.smiles = text({"smiles", "smi"});
    m.description = text({"description"});
    m.enriched_description = text({"enriched_description"});

    const auto* atoms = field({"atoms"});
    MOLM_CHECK(atoms, "3d-moit", "{} has no 'atoms'", where);
    for (const auto& a : sequence_items(*atoms, where, "atoms")) {
      MOLM_CHECK(a.is(Kind::string), "3d-moit", "{}: an atom is {}, not a symbol", where, a.describe());
      m.atoms.push_back(a.as_string());
    }
    const auto* coords = field({"coordinates", "coordinates_list"});
    MOLM_CHECK(coords, "3d-moit", "{} has neither 'coordinates' nor 'coordinates_list'", where);
    for (const auto& c : sequence_items(*coords, where, "coordinates")) {
      MOLM_CHECK(c.is(Kind::ndarray), "3d-moit", "{}: a conformer is {}, not a numpy array", where, c.describe());
      Tensor xyz = c.as_ndarray().to_tensor();
      MOLM_CHECK(xyz.dim() == 2 && xyz.shape()[0] == static_cast<std::int64_t>(m.atoms.size()) && xyz.shape()[1] == 3,
                 "3d-moit", "{}: a conformer of shape {} for {} atoms (need [{}, 3])", where, xyz.shape().str(),
                 m.atoms.size(), m.atoms.size());
      m.conformers.push_back(std::move(xyz));
    }
    return m;
  }

 private:
  /// A list or tuple's items, or a 1-D object array's elements (both occur in released files).
  static std::vector<io::pickle::Value> sequence_items(const io::pickle::Value& v, const std::string& where,
                                                       const char* what) {
    using io::pickle::Kind;
    if (v.is(Kind::sequence)) return v.as_sequence().items;
    if (v.is(Kind::ndarray) && v.as_ndarray().object_array) return v.as_ndarray().objects;
    if (v.is(Kind::ndarray) && std::string(what) == "coordinates") return {v};  // one conformer, bare
    MOLM_THROW("3d-moit", "{}: '{}' is {}, not a list", where, what, v.describe());
  }

  LmdbEnv env_;
};

}  // namespace molm::data

// Conformers as 3D-MoLM makes them, with every choice explicit and recorded.
//
//   auto conf = chem::embed(chem::from_smiles("CCO"), {.seed = 42});
//   conf.require_ok();                        // throws molm::error with the reason if there is none
//   conf.symbols, conf.positions              // heavy atoms and their coordinates (Å) for Uni-Mol
//   nlohmann::json record = conf.provenance;  // method, seed, attempts, MMFF status, time, error
//
// The reference (3D-MoLM's inference notebook, Uni-Mol's tools) adds hydrogens, calls RDKit's
// EmbedMolecule unseeded, runs MMFF94 inside `except: pass`, removes hydrogens, and falls back to 2D
// and then to all-zero coordinates without saying so. Here:
//   1. A molecule that already has 3D coordinates (SDF, an RDKit molecule) keeps them (user_3d).
//   2. Otherwise hydrogens are added and ETKDGv3 embeds it with `seed` (a copy of RDKit's ETKDGv3
//      parameters: the positional C++ EmbedMolecule overload is plain distance geometry, not ETKDG).
//   3. If that fails, ETKDGv3 again from random coordinates (what fixes long chains, rdkit#3323).
//   4. MMFF94 (as Python's MMFFOptimizeMolecule: 200 iterations, non-bonded cut-off 100) when
//      MMFF can type every atom; otherwise the ETKDG coordinates are kept and the record says why.
//   5. Only if asked (allow_2d): 2D depiction coordinates, marked coords_2d. Otherwise no coordinates
//      and status embed_failed / timed_out. Zero coordinates are never made up.
//   6. Hydrogens are dropped (Uni-Mol's no-H weights), unless keep_hydrogens.
//   7. Size policy: more than max_atoms kept atoms is an error, or, with crop, a subset of max_atoms
//      atoms chosen by a generator seeded with `seed` (the reference crops with an unseeded permutation).
// What bounds the time: each attempt runs at most max_iterations ETKDG iterations (RDKit's default,
// 0, means 10 x the atom count), and a wall-clock deadline (timeout_seconds, shared by all attempts)
// is checked at every ETKDG iteration through RDKit's progress callback, which stops the attempt by
// throwing (RDKit's embedder is written to let a callback throw). One iteration, and the O(N^3) bounds
// smoothing before the first, can still overrun the deadline; embed_atom_limit keeps N sane (RDKit
// crashes far above it, rdkit#3019).
// Same molecule, same options, same RDKit build: same coordinates (ETKDG and MMFF are deterministic
// for a fixed seed on one thread).
#pragma once

#include "molm/chem/molecule.hpp"
#include "molm/chem/provenance.hpp"
#include "molm/chem/rdkit_log.hpp"
#include "molm/core/error.hpp"

#include <GraphMol/Depictor/RDDepictor.h>
#include <ForceField/ForceField.h>
#include <GraphMol/DistGeomHelpers/Embedder.h>
#include <GraphMol/ForceFieldHelpers/MMFF/AtomTyper.h>
#include <GraphMol/ForceFieldHelpers/MMFF/Builder.h>
#include <GraphMol/MolOps.h>
#include <GraphMol/PeriodicTable.h>
#include <GraphMol/RWMol.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace molm::chem {

struct EmbedOptions {
  int seed = 42;                    // ETKDG random seed, also seeds the crop; must be >= 0
  unsigned max_iterations = 0;      // ETKDG iterations per attempt; 0 = RDKit's default, 10 x atom count
  double timeout_seconds = 60;      // wall-clock budget for all embedding attempts; <= 0: none
  bool random_coords_retry = true;  // a second attempt from random coordinates when the first fails
  bool mmff = true;                 // MMFF94 optimisation after embedding
  std::string mmff_variant = "MMFF94";  // or "MMFF94s"
  int mmff_max_iterations = 200;    // Python MMFFOptimizeMolecule's default, which the reference uses
  bool use_input_3d = true;         // keep an input's own 3D conformer (SDF, RDKit molecule)
  bool allow_2d = false;            // when embedding fails: 2D depiction coordinates (z = 0), marked
  bool keep_hydrogens = false;      // Uni-Mol's weights are the no-H model: hydrogens are removed
  std::size_t max_atoms = 256;      // most atoms kept (heavy atoms unless keep_hydrogens)
  bool crop = false;                // above max_atoms: keep a seeded subset instead of failing
  std::size_t embed_atom_limit = 1500;  // most atoms (hydrogens included) handed to ETKDG at all
};

/// One molecule's conformer, ready for featurization, and how it was made.
struct Conformer {
  /// The molecule with hydrogens as embedded and one RDKit conformer (id 0); null when none was made.
  std::shared_ptr<const RDKit::ROMol> mol;
  /// The kept atoms, in the molecule's atom order: hydrogens removed unless keep_hydrogens, cropped
  /// when asked. Empty exactly when !ok().
  std::vector<std::string> symbols;              // RDKit element symbols ("C", "Cl", "Na")
  std::vector<int> atomic_numbers;
  std::vector<std::array<float, 3>> positions;   // Å, as in the conformer (not centred)
  std::vector<unsigned> atom_indices;            // each kept atom's index in `mol`
  Provenance provenance;

  bool ok() const { return provenance.ok() && !symbols.empty(); }
  std::size_t size() const { return symbols.size(); }
  /// Throws molm::error with the provenance's error text when there is no conformer.
  const Conformer& require_ok() const {
    MOLM_CHECK(ok(), "chem", "no conformer for '{}': {} ({})", provenance.input, provenance.error,
               name(provenance.status));
    return *this;
  }
};

namespace detail {

/// Thrown from RDKit's progress callback when the time budget is spent. Not a std::exception, so that
/// no `catch (const std::exception&)` inside RDKit can swallow it.
struct EmbedDeadlinePassed {};

inline thread_local std::chrono::steady_clock::time_point embed_deadline{};
inline thread_local bool embed_deadline_set = false;

// A plain function pointer, as EmbedParameters wants; the deadline is per thread.
inline void check_embed_deadline(unsigned int /*iteration*/) {
  if (embed_deadline_set && std::chrono::steady_clock::now() > embed_deadline) throw EmbedDeadlinePassed{};
}

struct EmbedDeadlineScope {
  EmbedDeadlineScope(std::chrono::steady_clock::time_point deadline, bool active) {
    embed_deadline = deadline;
    embed_deadline_set = active;
  }
  ~EmbedDeadlineScope() { embed_deadline_set = false; }
};

/// Elements MMFF94 has parameters for (Halgren 1996: organic elements and common ions).
inline bool mmff_knows_element(int z) {
  switch (z) {
    case 1: case 3: case 6: case 7: case 8: case 9: case 11: case 12: case 14: case 15: case 16:
    case 17: case 19: case 20: case 26: case 29: case 30: case 35: case 53:
      return true;
    default:
      return false;
  }
}

inline std::string mmff_missing_reason(const RDKit::ROMol& mol) {
  std::set<std::string> unknown;
  bool radical = false;
  for (const RDKit::Atom* atom : mol.atoms()) {
    if (!mmff_knows_element(atom->getAtomicNum())) unknown.insert(atom->getSymbol());
    radical = radical || atom->getNumRadicalElectrons() > 0;
  }
  if (!unknown.empty()) {
    std::string list;
    for (const auto& s : unknown) list += (list.empty() ? "" : ", ") + s;
    return fmt::format("MMFF94 has no parameters for element(s) {}", list);
  }
  if (radical) return "MMFF94 has no parameters for radicals";
  return "MMFF94 cannot type every atom of this molecule";
}

/// The seeded crop: `keep` of the indices 0..n-1, chosen by a partial Fisher-Yates shuffle with
/// mt19937_64 (whose output the standard fixes, unlike std::shuffle's algorithm), returned sorted.
inline std::vector<std::size_t> seeded_subset(std::size_t n, std::size_t keep, std::uint64_t seed) {
  std::vector<std::size_t> idx(n);
  for (std::size_t i = 0; i < n; ++i) idx[i] = i;
  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i < keep && i < n; ++i) std::swap(idx[i], idx[i + rng() % (n - i)]);
  idx.resize(std::min(keep, n));
  std::sort(idx.begin(), idx.end());
  return idx;
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace detail

/// Make one molecule's conformer. Never throws for a bad molecule: the result's provenance says what
/// happened (check ok() or call require_ok()). Throws molm::error only for invalid options.
inline Conformer embed(const Molecule& molecule, const EmbedOptions& options = {}) {
  MOLM_CHECK(options.seed >= 0, "chem", "EmbedOptions::seed must be >= 0 (got {}); molm always seeds ETKDG",
             options.seed);
  MOLM_CHECK(options.max_atoms > 0, "chem", "EmbedOptions::max_atoms must be > 0");
  const std::string& variant = options.mmff_variant;
  MOLM_CHECK(variant == "MMFF94" || variant == "MMFF94s", "chem",
             "EmbedOptions::mmff_variant must be MMFF94 or MMFF94s, not '{}'", variant);
  const auto t0 = std::chrono::steady_clock::now();

  Conformer out;
  Provenance& p = out.provenance;
  p.input = molecule.input;
  p.source = molecule.source;
  p.file = molecule.file;
  p.record = molecule.record;
  p.name = molecule.name;
  p.max_iterations = options.max_iterations;
  p.warnings = molecule.warnings;
  const auto fail = [&](Status status, std::string error) -> Conformer {
    p.status = status;
    p.method = ConformerMethod::none;
    p.error = detail::escape_invalid_utf8(error);
    p.atoms = 0;
    p.wall_seconds = detail::seconds_since(t0);
    out.mol.reset();
    out.symbols.clear();
    out.atomic_numbers.clear();
    out.positions.clear();
    out.atom_indices.clear();
    return std::move(out);
  };
  if (!molecule.ok())
    return fail(molecule.status == Status::ok ? Status::invalid_input : molecule.status,
                molecule.error.empty() ? std::string("no molecule") : molecule.error);

  CaptureRdkitLogs logs;
  const RDKit::ROMol& input = *molecule.mol;
  p.canonical_smiles = detail::escape_invalid_utf8(canonical_smiles(input));
  p.heavy_atoms = input.getNumHeavyAtoms();
  {
    std::vector<int> fragment_of;
    p.fragments = RDKit::MolOps::getMolFrags(input, fragment_of);
  }

  // Size policy first, so an oversized molecule costs nothing. Hydrogens count only when kept.
  std::size_t hydrogens = 0;
  for (const RDKit::Atom* atom : input.atoms())
    hydrogens += atom->getTotalNumHs() + (atom->getAtomicNum() == 1 ? 1 : 0);
  const std::size_t heavy = p.heavy_atoms;
  const std::size_t kept_count = (options.keep_hydrogens || heavy == 0) ? heavy + hydrogens : heavy;
  if (kept_count > options.max_atoms && !options.crop)
    return fail(Status::too_large,
                fmt::format("{} {}, more than max_atoms = {} (raise max_atoms or set crop)", kept_count,
                            options.keep_hydrogens ? "atoms" : "heavy atoms", options.max_atoms));
  if (heavy + hydrogens > options.embed_atom_limit && !(molecule.has_3d && options.use_input_3d))
    return fail(Status::too_large, fmt::format("{} atoms with hydrogens, more than embed_atom_limit = {}",
                                               heavy + hydrogens, options.embed_atom_limit));

  auto work = std::make_shared<RDKit::RWMol>(input);
  if (molecule.has_3d && options.use_input_3d) {
    // Keep the input's first conformer, as id 0, and nothing else.
    RDKit::Conformer first(work->getConformer());
    first.setId(0);
    work->clearConformers();
    work->addConformer(new RDKit::Conformer(first), /*assignId=*/false);
    if (options.keep_hydrogens) RDKit::MolOps::addHs(*work, false, /*addCoords=*/true);
    p.method = ConformerMethod::user_3d;
  } else {
    work->clearConformers();
    RDKit::MolOps::addHs(*work);
    RDKit::DGeomHelpers::EmbedParameters params(RDKit::DGeomHelpers::ETKDGv3);
    params.randomSeed = options.seed;
    params.maxIterations = options.max_iterations;
    params.numThreads = 1;  // the caller parallelises over molecules; one thread keeps results reproducible
    params.callback = &detail::check_embed_deadline;
    p.seed = options.seed;
    const bool bounded = options.timeout_seconds > 0;
    const auto deadline =
        t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                 std::chrono::duration<double>(bounded ? options.timeout_seconds : 0.0));
    detail::EmbedDeadlineScope scope(deadline, bounded);

    bool timed_out = false;
    std::string embed_error;
    const auto attempt = [&](bool random_coords) {
      if (timed_out) return false;
      ++p.attempts;
      params.useRandomCoords = random_coords;
      try {
        return RDKit::DGeomHelpers::EmbedMolecule(*work, params) >= 0;
      } catch (const detail::EmbedDeadlinePassed&) {
        timed_out = true;
      } catch (const std::exception& e) {  // RDKit invariant violations on odd structures (rdkit#7781)
        embed_error = e.what();
      }
      work->clearConformers();
      return false;
    };
    std::size_t radicals = 0;
    for (const RDKit::Atom* atom : work->atoms()) radicals += atom->getNumRadicalElectrons() > 0;
    if (radicals)  // RDKit's MMFF typer accepts some radicals; neither it nor ETKDG models open shells
      p.warnings.push_back(fmt::format("{} atom(s) with radical electrons: ETKDG and MMFF94 treat them as "
                                       "closed-shell", radicals));
    if (p.fragments > 1)  // as in the reference: ETKDG embeds each piece on its own, centred on the origin
      p.warnings.push_back(fmt::format("{} fragments embedded separately: their relative placement is arbitrary",
                                       p.fragments));
    if (attempt(false)) {
      p.method = ConformerMethod::etkdg_v3;
    } else if (options.random_coords_retry && attempt(true)) {
      p.method = ConformerMethod::random_coords;
    }

    if (p.method == ConformerMethod::none) {
      const std::string what =
          timed_out ? fmt::format("ETKDGv3 ran out of its {} s budget after {} attempt(s)", options.timeout_seconds,
                                  p.attempts)
                    : fmt::format("ETKDGv3 found no conformer in {} attempt(s) (seed {}, max_iterations {}){}{}",
                                  p.attempts, options.seed,
                                  options.max_iterations ? fmt::format("{}", options.max_iterations)
                                                         : std::string("10 x atoms"),
                                  embed_error.empty() ? "" : ": ", embed_error);
      if (!options.allow_2d) {
        for (auto& line : logs.lines()) p.warnings.push_back(std::move(line));
        return fail(timed_out ? Status::timed_out : Status::embed_failed, what);
      }
      RDDepict::compute2DCoords(*work);
      p.method = ConformerMethod::coords_2d;
      p.warnings.push_back(what + "; using 2D depiction coordinates (z = 0) as allow_2d asks");
    } else if (options.mmff) {
      try {
        RDKit::MMFF::MMFFMolProperties properties(*work, variant);
        if (!properties.isValid()) {
          p.mmff = MmffStatus::missing_parameters;
          p.warnings.push_back(detail::mmff_missing_reason(*work) + "; ETKDG coordinates kept unoptimised");
        } else {
          std::unique_ptr<ForceFields::ForceField> field(
              RDKit::MMFF::constructForceField(*work, &properties, /*nonBondedThresh=*/100.0, /*confId=*/-1,
                                               /*ignoreInterfragInteractions=*/true));
          field->initialize();
          const int needs_more = field->minimize(options.mmff_max_iterations);
          p.mmff = needs_more == 0 ? MmffStatus::converged : MmffStatus::not_converged;
          p.mmff_energy = field->calcEnergy();
        }
      } catch (const std::exception& e) {
        p.mmff = MmffStatus::failed;
        p.warnings.push_back(fmt::format("MMFF94 failed: {}; ETKDG coordinates kept unoptimised", e.what()));
      }
    }
  }

  // Which atoms Uni-Mol sees: heavy atoms (all atoms if there are no heavy ones, as the reference).
  std::vector<unsigned> keep;
  const bool all_atoms = options.keep_hydrogens || work->getNumHeavyAtoms() == 0;
  for (const RDKit::Atom* atom : work->atoms())
    if (all_atoms || atom->getAtomicNum() != 1) keep.push_back(atom->getIdx());
  if (keep.size() > options.max_atoms) {  // only reachable with crop
    const auto chosen = detail::seeded_subset(keep.size(), options.max_atoms, static_cast<std::uint64_t>(options.seed));
    std::vector<unsigned> subset;
    for (std::size_t i : chosen) subset.push_back(keep[i]);
    p.warnings.push_back(fmt::format("cropped {} atoms to {} (seeded subset, seed {})", keep.size(), subset.size(),
                                     options.seed));
    keep = std::move(subset);
    p.cropped = true;
  }

  const RDKit::Conformer& conf = work->getConformer();
  bool any_nonzero = false;
  for (unsigned idx : keep) {
    const RDKit::Atom* atom = work->getAtomWithIdx(idx);
    const RDGeom::Point3D& x = conf.getAtomPos(idx);
    out.symbols.push_back(atom->getSymbol());
    out.atomic_numbers.push_back(atom->getAtomicNum());
    out.positions.push_back({static_cast<float>(x.x), static_cast<float>(x.y), static_cast<float>(x.z)});
    out.atom_indices.push_back(idx);
    any_nonzero = any_nonzero || x.x != 0 || x.y != 0 || x.z != 0;
  }
  // All kept atoms at the origin means no structure at all, unless there is only one atom (an ion),
  // where the origin is as good as any point: say so rather than pass zeros off as a conformer.
  if (!any_nonzero && out.symbols.size() > 1)
    return fail(Status::embed_failed, "the conformer has every atom at the origin");
  if (out.symbols.size() == 1) p.warnings.push_back("a single atom: placed at the origin");

  for (auto& line : logs.lines()) p.warnings.push_back(std::move(line));
  p.atoms = out.symbols.size();
  p.status = Status::ok;
  p.wall_seconds = detail::seconds_since(t0);
  out.mol = std::move(work);
  return out;
}

}  // namespace molm::chem

// WordNet 3.0 read straight from the database files (Debian's wordnet-base, /usr/share/wordnet),
// answering the one question NLTK's METEOR asks: `wordnet.synsets(word)` and the lemma names of
// those synsets, with NLTK 3.8.1's WordNetCorpusReader semantics:
//
// - the word is lower-cased; for each part of speech in NLTK's order (noun, verb, adj, adv),
//   morphy(word, pos) gives base forms and each form's synsets come from index.<pos> in file order;
// - morphy: a word in <pos>.exc gives [word] + its exceptions; otherwise the detachment rules are
//   applied once and [word] + results that are WordNet lemmas of that pos are returned; if none
//   are, the rules are applied again and again to the previous results until some are lemmas;
// - lemma names keep their case and lose adjective markers such as "(a)"/"(p)"/"(ip)".
//
// Files are read once, when a WordNet is constructed; a constructed WordNet is immutable, so one
// object serves many threads. WordNet::shared() loads the default location once (thread-safe).
#pragma once

#include "molm/core/error.hpp"
#include "molm/metrics/python_str.hpp"

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace molm::metrics {

class WordNet {
 public:
  /// Parts of speech in NLTK's POS_LIST order.
  enum Pos : int { noun = 0, verb = 1, adj = 2, adv = 3 };
  static constexpr std::array<const char*, 4> kFileSuffix = {"noun", "verb", "adj", "adv"};

  /// A synset: part of speech and byte offset of its line in data.<pos>.
  struct SynsetRef {
    Pos pos;
    std::uint32_t offset;
    bool operator==(const SynsetRef&) const = default;
  };

  /// $MOLM_WORDNET_DIR if set, else /usr/share/wordnet (Debian's wordnet-base).
  static std::filesystem::path default_dir() {
    if (const char* env = std::getenv("MOLM_WORDNET_DIR"); env && *env) return env;
    return "/usr/share/wordnet";
  }

  /// The database at default_dir(), loaded on first use; throws molm::error when it is missing.
  static const WordNet& shared() {
    static const WordNet instance(default_dir());  // a throwing construction is retried next call
    return instance;
  }

  /// Reads index.*, *.exc and data.* from `dir`.
  explicit WordNet(const std::filesystem::path& dir) : dir_(dir) {
    for (int p = 0; p < 4; ++p) {
      const std::string suffix = kFileSuffix[p];
      data_[p] = read_file(dir / ("data." + suffix));
      load_index(dir / ("index." + suffix));
      load_exceptions(static_cast<Pos>(p), dir / (suffix + ".exc"));
    }
  }

  const std::filesystem::path& dir() const { return dir_; }

  /// NLTK's wordnet._morphy(form, pos): the base forms of `form` that are lemmas of `pos`.
  std::vector<std::string> morphy(std::string_view form, Pos pos) const {
    const std::string word(form);
    if (auto it = exceptions_[pos].find(word); it != exceptions_[pos].end()) {
      std::vector<std::string> candidates{word};
      candidates.insert(candidates.end(), it->second.begin(), it->second.end());
      return known_forms(candidates, pos);
    }
    std::vector<std::string> forms = detach({word}, pos);
    std::vector<std::string> first{word};
    first.insert(first.end(), forms.begin(), forms.end());
    if (auto found = known_forms(first, pos); !found.empty()) return found;
    while (!forms.empty()) {
      forms = detach(forms, pos);
      if (auto found = known_forms(forms, pos); !found.empty()) return found;
    }
    return {};
  }

  /// NLTK's wordnet.synsets(word) (all parts of speech), in NLTK's order.
  std::vector<SynsetRef> synsets(std::string_view word) const {
    const std::string lemma = python_lower(word);
    std::vector<SynsetRef> out;
    for (int p = 0; p < 4; ++p) {
      const Pos pos = static_cast<Pos>(p);
      for (const std::string& form : morphy(lemma, pos)) {
        const auto it = index_.find(form);
        if (it == index_.end()) continue;
        const Entry& e = it->second;
        for (std::uint32_t k = 0; k < e.count[p]; ++k) out.push_back({pos, offsets_[e.begin[p] + k]});
      }
    }
    return out;
  }

  /// Synset.lemma_names(): the words of a synset's data line, adjective markers removed.
  std::vector<std::string> lemma_names(SynsetRef s) const {
    const std::string& data = data_[s.pos];
    MOLM_CHECK(s.offset < data.size(), "wordnet", "offset {} beyond the end of {}", s.offset,
               (dir_ / ("data." + std::string(kFileSuffix[s.pos]))).string());
    const std::size_t end = data.find('\n', s.offset);
    std::istringstream line(data.substr(s.offset, end == std::string::npos ? std::string::npos : end - s.offset));
    std::string offset, lexfile, type, count_hex;
    line >> offset >> lexfile >> type >> count_hex;
    MOLM_CHECK(!count_hex.empty() && std::strtoul(offset.c_str(), nullptr, 10) == s.offset, "wordnet",
               "no synset line at byte {} of {}", s.offset,
               (dir_ / ("data." + std::string(kFileSuffix[s.pos]))).string());
    const unsigned long n = std::strtoul(count_hex.c_str(), nullptr, 16);
    std::vector<std::string> names;
    for (unsigned long i = 0; i < n; ++i) {
      std::string name, lex_id;
      line >> name >> lex_id;
      // NLTK: re.match(r"(.*?)(\(.*\))?$") — a trailing "(...)" from the first "(" on is a marker.
      if (!name.empty() && name.back() == ')')
        if (const auto open = name.find('('); open != std::string::npos) name.resize(open);
      names.push_back(std::move(name));
    }
    return names;
  }

  /// The lemma names of every synset of `word`, in NLTK's order (duplicates kept).
  std::vector<std::string> synset_lemma_names(std::string_view word) const {
    std::vector<std::string> out;
    for (const SynsetRef& s : synsets(word))
      for (std::string& name : lemma_names(s)) out.push_back(std::move(name));
    return out;
  }

 private:
  struct Entry {
    std::array<std::uint32_t, 4> begin{}, count{};
  };

  static std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    MOLM_CHECK(in.good(), "wordnet",
               "cannot read {}: WordNet 3.0 is needed (Debian package wordnet-base, or set MOLM_WORDNET_DIR "
               "to a folder with index.*, data.* and *.exc)",
               path.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return std::move(ss).str();
  }

  void load_index(const std::filesystem::path& path) {
    const std::string text = read_file(path);
    std::size_t start = 0, line_no = 0;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      ++line_no;
      const std::string_view line(text.data() + start, end - start);
      start = end + 1;
      if (line.empty() || line.front() == ' ') continue;  // the licence header
      std::istringstream fields{std::string(line)};
      std::string lemma, pos_tag;
      long n_synsets = -1, n_pointers = -1, n_senses = -1, n_tagged = -1;
      fields >> lemma >> pos_tag >> n_synsets >> n_pointers;
      std::string skip;
      for (long i = 0; i < n_pointers && fields; ++i) fields >> skip;
      fields >> n_senses >> n_tagged;
      const int p = pos_tag == "n" ? noun : pos_tag == "v" ? verb : pos_tag == "a" ? adj : pos_tag == "r" ? adv : -1;
      MOLM_CHECK(fields && p >= 0 && n_synsets > 0 && n_senses == n_synsets, "wordnet", "{}, line {}: malformed entry",
                 path.string(), line_no);
      Entry& e = index_[lemma];  // a repeated lemma/pos replaces the earlier one, as in NLTK's dict
      e.begin[p] = static_cast<std::uint32_t>(offsets_.size());
      e.count[p] = static_cast<std::uint32_t>(n_synsets);
      for (long i = 0; i < n_synsets; ++i) {
        unsigned long offset = 0;
        MOLM_CHECK(static_cast<bool>(fields >> offset), "wordnet", "{}, line {}: missing synset offset",
                   path.string(), line_no);
        offsets_.push_back(static_cast<std::uint32_t>(offset));
      }
    }
  }

  void load_exceptions(Pos pos, const std::filesystem::path& path) {
    std::istringstream text(read_file(path));
    std::string line;
    while (std::getline(text, line)) {
      std::istringstream fields(line);
      std::string inflected, base;
      if (!(fields >> inflected)) continue;
      std::vector<std::string> bases;
      while (fields >> base) bases.push_back(base);
      exceptions_[pos][inflected] = std::move(bases);  // last line wins, as in NLTK's dict
    }
  }

  bool has_lemma(const std::string& form, Pos pos) const {
    const auto it = index_.find(form);
    return it != index_.end() && it->second.count[pos] > 0;
  }

  /// NLTK's filter_forms: the forms that are lemmas of `pos`, first occurrences in order.
  std::vector<std::string> known_forms(const std::vector<std::string>& forms, Pos pos) const {
    std::vector<std::string> out;
    std::unordered_set<std::string> seen;
    for (const std::string& f : forms)
      if (has_lemma(f, pos) && seen.insert(f).second) out.push_back(f);
    return out;
  }

  /// NLTK's apply_rules: every substitution whose suffix ends a form, in rule order. Duplicates are
  /// dropped (first kept): they would only repeat later what the first copy produces, so the forms
  /// found and their order are NLTK's, without its exponential lists for words like "eseseses".
  static std::vector<std::string> detach(const std::vector<std::string>& forms, Pos pos) {
    struct Sub {
      std::string_view old_suffix, new_suffix;
    };
    static constexpr Sub noun_rules[] = {{"s", ""},      {"ses", "s"},   {"ves", "f"},   {"xes", "x"},  {"zes", "z"},
                                         {"ches", "ch"}, {"shes", "sh"}, {"men", "man"}, {"ies", "y"}};
    static constexpr Sub verb_rules[] = {{"s", ""},  {"ies", "y"}, {"es", "e"},  {"es", ""},
                                         {"ed", "e"}, {"ed", ""},  {"ing", "e"}, {"ing", ""}};
    static constexpr Sub adj_rules[] = {{"er", ""}, {"est", ""}, {"er", "e"}, {"est", "e"}};
    const Sub* begin = nullptr;
    const Sub* end = nullptr;
    switch (pos) {
      case noun: begin = std::begin(noun_rules), end = std::end(noun_rules); break;
      case verb: begin = std::begin(verb_rules), end = std::end(verb_rules); break;
      case adj: begin = std::begin(adj_rules), end = std::end(adj_rules); break;
      case adv: break;
    }
    std::vector<std::string> out;
    std::unordered_set<std::string> seen;
    for (const std::string& f : forms)
      for (const Sub* s = begin; s != end; ++s)
        if (f.size() >= s->old_suffix.size() && std::string_view(f).substr(f.size() - s->old_suffix.size()) == s->old_suffix) {
          std::string g = f.substr(0, f.size() - s->old_suffix.size());
          g += s->new_suffix;
          if (seen.insert(g).second) out.push_back(std::move(g));
        }
    return out;
  }

  std::filesystem::path dir_;
  std::array<std::string, 4> data_;
  std::unordered_map<std::string, Entry> index_;
  std::vector<std::uint32_t> offsets_;
  std::array<std::unordered_map<std::string, std::vector<std::string>>, 4> exceptions_;
};

}  // namespace molm::metrics

// The Porter stemmer exactly as NLTK 3.8.1's PorterStemmer() in its default NLTK_EXTENSIONS mode,
// the stemmer of NLTK's METEOR. NLTK departs from Porter's paper, and these departures are kept:
// a pool of irregular forms (skies → sky, dying → die, …), words of ≤ 2 characters left alone,
// "ies"/"ied" of 4-letter words → "ie", step 1c's "y → i" only after a consonant that is not the
// first letter, "bli → ble", the extra "alli" pass and "fulli"/"logi" rules of step 2, and a
// two-letter vowel-consonant word counting as "cvc". Rules are applied to Python code points, so
// a non-ASCII character is a consonant and counts as one character.
#pragma once

#include "molm/metrics/python_str.hpp"

#include <string>
#include <string_view>

namespace molm::metrics {

class PorterStemmer {
 public:
  /// The stem of `word` (lower-cased with Python's str.lower first, as NLTK does).
  std::string stem(std::string_view word) const {
    const std::u32string original = utf8_decode(word);
    std::u32string w = python_lower(original);
    // The pool is looked up with the word as given, the length test too (NLTK's order).
    if (const char32_t* irregular = irregular_form(original)) return utf8_encode(irregular);
    if (original.size() <= 2) return utf8_encode(w);
    w = step1a(w);
    w = step1b(w);
    w = step1c(w);
    w = step2(w);
    w = step3(w);
    w = step4(w);
    w = step5a(w);
    w = step5b(w);
    return utf8_encode(w);
  }

 private:
  using str = std::u32string;
  using view = std::u32string_view;

  static const char32_t* irregular_form(view w) {
    struct Entry {
      const char32_t* form;
      const char32_t* stem;
    };
    static constexpr Entry pool[] = {
        {U"sky", U"sky"},         {U"skies", U"sky"},     {U"dying", U"die"},       {U"lying", U"lie"},
        {U"tying", U"tie"},       {U"news", U"news"},     {U"innings", U"inning"},  {U"inning", U"inning"},
        {U"outings", U"outing"},  {U"outing", U"outing"}, {U"cannings", U"canning"}, {U"canning", U"canning"},
        {U"howe", U"howe"},       {U"proceed", U"proceed"}, {U"exceed", U"exceed"}, {U"succeed", U"succeed"},
    };
    for (const auto& e : pool)
      if (w == e.form) return e.stem;
    return nullptr;
  }

  static bool ends_with(view w, view suffix) {
    return w.size() >= suffix.size() && w.substr(w.size() - suffix.size()) == suffix;
  }
  static str drop(view w, std::size_t n) { return str(w.substr(0, w.size() - n)); }

  static bool is_vowel_letter(char32_t c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

  static bool is_consonant(view w, std::size_t i) {
    if (is_vowel_letter(w[i])) return false;
    if (w[i] == 'y') return i == 0 ? true : !is_consonant(w, i - 1);
    return true;
  }

  /// m in [C](VC)^m[V]: the number of vowel→consonant transitions.
  static int measure(view w) {
    int m = 0;
    for (std::size_t i = 1; i < w.size(); ++i)
      if (!is_consonant(w, i - 1) && is_consonant(w, i)) ++m;
    return m;
  }
  static bool contains_vowel(view w) {
    for (std::size_t i = 0; i < w.size(); ++i)
      if (!is_consonant(w, i)) return true;
    return false;
  }
  static bool ends_double_consonant(view w) {
    const std::size_t n = w.size();
    return n >= 2 && w[n - 1] == w[n - 2] && is_consonant(w, n - 1);
  }
  static bool ends_cvc(view w) {
    const std::size_t n = w.size();
    if (n >= 3 && is_consonant(w, n - 3) && !is_consonant(w, n - 2) && is_consonant(w, n - 1) && w[n - 1] != 'w' &&
        w[n - 1] != 'x' && w[n - 1] != 'y')
      return true;
    return n == 2 && !is_consonant(w, 0) && is_consonant(w, 1);  // NLTK extension
  }

  enum class Cond { none, positive_measure, measure_gt_1, ion, logi };
  struct Rule {
    const char32_t* suffix;
    const char32_t* replacement;
    Cond cond;
  };

  static bool holds(Cond c, view stem, view word) {
    switch (c) {
      case Cond::none: return true;
      case Cond::positive_measure: return measure(stem) > 0;
      case Cond::measure_gt_1: return measure(stem) > 1;
      case Cond::ion: return measure(stem) > 1 && !stem.empty() && (stem.back() == 's' || stem.back() == 't');
      case Cond::logi: return measure(word.substr(0, word.size() - 3)) > 0;  // NLTK tests word[:-3], not the stem
    }
    return false;
  }

  /// NLTK's _apply_rule_list: the first rule whose suffix matches decides (applies or keeps the word).
  template <std::size_t N>
  static str apply_rules(view w, const Rule (&rules)[N]) {
    for (const Rule& r : rules) {
      if (ends_with(w, r.suffix)) {
        const view stem = w.substr(0, w.size() - std::char_traits<char32_t>::length(r.suffix));
        return holds(r.cond, stem, w) ? str(stem) + r.replacement : str(w);
      }
    }
    return str(w);
  }

  static str step1a(view w) {
    if (ends_with(w, U"ies") && w.size() == 4) return drop(w, 3) + U"ie";
    static constexpr Rule rules[] = {
        {U"sses", U"ss", Cond::none}, {U"ies", U"i", Cond::none}, {U"ss", U"ss", Cond::none}, {U"s", U"", Cond::none}};
    return apply_rules(w, rules);
  }

  static str step1b(view w) {
    if (ends_with(w, U"ied")) return drop(w, 3) + (w.size() == 4 ? U"ie" : U"i");
    if (ends_with(w, U"eed")) {
      const view stem = w.substr(0, w.size() - 3);
      return measure(stem) > 0 ? str(stem) + U"ee" : str(w);
    }
    str stem;
    bool found = false;
    for (view suffix : {view(U"ed"), view(U"ing")}) {
      if (ends_with(w, suffix)) {
        stem = drop(w, suffix.size());
        if (contains_vowel(stem)) {
          found = true;
          break;
        }
      }
    }
    if (!found) return str(w);
    if (ends_with(stem, U"at")) return drop(stem, 2) + U"ate";
    if (ends_with(stem, U"bl")) return drop(stem, 2) + U"ble";
    if (ends_with(stem, U"iz")) return drop(stem, 2) + U"ize";
    if (ends_double_consonant(stem)) {
      const char32_t last = stem.back();
      if (last != 'l' && last != 's' && last != 'z') return drop(stem, 2) + last;  // undouble
      return stem;
    }
    // The empty suffix always matches: add "e" to a short cvc stem.
    if (measure(stem) == 1 && ends_cvc(stem)) return stem + U"e";
    return stem;
  }

  static str step1c(view w) {
    if (ends_with(w, U"y")) {
      const view stem = w.substr(0, w.size() - 1);
      return stem.size() > 1 && is_consonant(stem, stem.size() - 1) ? str(stem) + U"i" : str(w);
    }
    return str(w);
  }

  static str step2(view w) {
    if (ends_with(w, U"alli") && measure(w.substr(0, w.size() - 4)) > 0) return step2(drop(w, 4) + U"al");
    static constexpr Cond P = Cond::positive_measure;
    static constexpr Rule rules[] = {
        {U"ational", U"ate", P}, {U"tional", U"tion", P}, {U"enci", U"ence", P}, {U"anci", U"ance", P},
        {U"izer", U"ize", P},    {U"bli", U"ble", P},     {U"alli", U"al", P},   {U"entli", U"ent", P},
        {U"eli", U"e", P},       {U"ousli", U"ous", P},   {U"ization", U"ize", P}, {U"ation", U"ate", P},
        {U"ator", U"ate", P},    {U"alism", U"al", P},    {U"iveness", U"ive", P}, {U"fulness", U"ful", P},
        {U"ousness", U"ous", P}, {U"aliti", U"al", P},    {U"iviti", U"ive", P}, {U"biliti", U"ble", P},
        {U"fulli", U"ful", P},   {U"logi", U"log", Cond::logi},
    };
    return apply_rules(w, rules);
  }

  static str step3(view w) {
    static constexpr Cond P = Cond::positive_measure;
    static constexpr Rule rules[] = {{U"icate", U"ic", P}, {U"ative", U"", P}, {U"alize", U"al", P},
                                     {U"iciti", U"ic", P}, {U"ical", U"ic", P}, {U"ful", U"", P},
                                     {U"ness", U"", P}};
    return apply_rules(w, rules);
  }

  static str step4(view w) {
    static constexpr Cond M = Cond::measure_gt_1;
    static constexpr Rule rules[] = {
        {U"al", U"", M},   {U"ance", U"", M}, {U"ence", U"", M}, {U"er", U"", M},  {U"ic", U"", M},
        {U"able", U"", M}, {U"ible", U"", M}, {U"ant", U"", M},  {U"ement", U"", M}, {U"ment", U"", M},
        {U"ent", U"", M},  {U"ion", U"", Cond::ion}, {U"ou", U"", M}, {U"ism", U"", M}, {U"ate", U"", M},
        {U"iti", U"", M},  {U"ous", U"", M},  {U"ive", U"", M},  {U"ize", U"", M},
    };
    return apply_rules(w, rules);
  }

  static str step5a(view w) {
    if (ends_with(w, U"e")) {
      const view stem = w.substr(0, w.size() - 1);
      const int m = measure(stem);
      if (m > 1 || (m == 1 && !ends_cvc(stem))) return str(stem);
    }
    return str(w);
  }

  static str step5b(view w) {
    // NLTK measures word[:-1] (the word less one "l"), not the rule's stem.
    if (ends_with(w, U"ll")) return measure(w.substr(0, w.size() - 1)) > 1 ? drop(w, 2) + U"l" : str(w);
    return str(w);
  }
};

/// NLTK's PorterStemmer().stem(word).
inline std::string porter_stem(std::string_view word) { return PorterStemmer{}.stem(word); }

}  // namespace molm::metrics

// molm::text from an installed molm: its SentencePiece and utf8proc targets must compile and link.
#include <molm/text/wordpiece.hpp>

#include <cstdio>

int main() {
  const molm::text::WordPieceTokenizer tok({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cafe"});
  const auto ids = tok.encode("CAFÉ");  // lower-cased and accent-stripped through utf8proc
  std::printf("molm::text: CAFÉ -> %zu ids\n", ids.size());
  return ids.size() == 3 && ids[1] == 5 ? 0 : 1;
}

// RDKit's log messages, caught inside molm's calls instead of printed to stderr.
//
//   chem::CaptureRdkitLogs logs;                  // from here on, this thread's RDKit messages...
//   RDKit::SmilesToMol("C1CC");                    // ...("SMILES Parse Error: unclosed ring ...")
//   std::string why = logs.text();                 // ...land here, without RDKit's time stamps
//
// RDKit says why a SMILES or a mol block failed only through its global loggers (rdErrorLog,
// rdWarningLog). A batch of a million SMILES with a few bad ones should not flood the terminal, and
// the reason belongs in that molecule's provenance. The first capture swaps each logger's stream for
// a router that sends text to the calling thread's active capture, or else on to the original
// stream; the router then stays installed as a pass-through, so other threads, and this thread
// outside a capture, print as before, and captures need no lock. Loggers RDKit has not created
// (RDLog::InitLogs never called) print nothing, so there is nothing to capture either.
// Not covered: a host that replaces RDKit's loggers while molm is capturing on another thread.
#pragma once

#include <RDGeneral/RDLog.h>

#include <memory>
#include <mutex>
#include <ostream>
#include <streambuf>
#include <string>
#include <vector>

namespace molm::chem {

namespace detail {

/// The capture buffer of this thread, or null when nothing captures here.
inline thread_local std::string* rdkit_log_sink = nullptr;

/// Sends characters to this thread's capture, else to the stream the logger had before.
class RdkitLogRouter : public std::streambuf {
 public:
  explicit RdkitLogRouter(std::ostream* original) : original_(original) {}

 protected:
  int_type overflow(int_type ch) override {
    if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
    const char c = traits_type::to_char_type(ch);
    return xsputn(&c, 1) == 1 ? ch : traits_type::eof();
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (std::string* sink = rdkit_log_sink) {
      sink->append(s, static_cast<std::size_t>(n));
      return n;
    }
    if (original_) original_->write(s, n);
    return n;
  }
  int sync() override {
    if (!rdkit_log_sink && original_) original_->flush();
    return 0;
  }

 private:
  std::ostream* original_;
};

/// Puts a router in front of each RDKit logger that does not have one yet. The routers are never
/// freed: RDKit's loggers keep raw pointers to them and may print until the process exits.
inline void install_rdkit_log_routers() {
  static std::mutex mutex;
  static std::vector<std::ostream*> routers;
  std::lock_guard lock(mutex);
  for (RDLogger* logger : {&rdErrorLog, &rdWarningLog, &rdInfoLog}) {
    if (!*logger || !(*logger)->dp_dest) continue;
    std::ostream* dest = (*logger)->dp_dest;
    bool routed = false;
    for (std::ostream* r : routers) routed = routed || r == dest;
    if (routed) continue;
    auto* stream = new std::ostream(new RdkitLogRouter(dest));
    routers.push_back(stream);
    (*logger)->dp_dest = stream;
  }
}

/// RDKit prefixes every message with "[hh:mm:ss] "; provenance records should not carry clock times.
inline std::string strip_rdkit_time_stamps(const std::string& text) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (line.size() >= 11 && line[0] == '[' && line[3] == ':' && line[6] == ':' && line[9] == ']')
      line.erase(0, line[10] == ' ' ? 11 : 10);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) {
      if (!out.empty()) out += '\n';
      out += line;
    }
    start = end + 1;
  }
  return out;
}

}  // namespace detail

/// While alive, whatever RDKit logs on this thread is kept here instead of printed. Captures nest:
/// the innermost one gets the text.
class CaptureRdkitLogs {
 public:
  CaptureRdkitLogs() : previous_(detail::rdkit_log_sink) {
    detail::install_rdkit_log_routers();
    detail::rdkit_log_sink = &text_;
  }
  ~CaptureRdkitLogs() { detail::rdkit_log_sink = previous_; }
  CaptureRdkitLogs(const CaptureRdkitLogs&) = delete;
  CaptureRdkitLogs& operator=(const CaptureRdkitLogs&) = delete;

  /// The messages so far, one per line, without RDKit's time stamps ("" when none).
  std::string text() const { return detail::strip_rdkit_time_stamps(text_); }
  /// The messages so far, one entry per line.
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    const std::string all = text();
    std::size_t start = 0;
    while (start < all.size()) {
      std::size_t end = all.find('\n', start);
      if (end == std::string::npos) end = all.size();
      out.push_back(all.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }

 private:
  std::string text_;
  std::string* previous_;
};

}  // namespace molm::chem

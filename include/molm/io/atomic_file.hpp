// AtomicFile: write a file so that readers see either the old content or the complete new one.
//
// Bytes go to a temporary file in the target's folder (same file system, so rename is atomic);
// commit() fsyncs it, renames it over the target and fsyncs the folder so the rename itself
// survives a power cut. If anything fails, or the AtomicFile is destroyed without commit(), the
// temporary file is removed and the target is left exactly as it was.
#pragma once

#include "molm/core/error.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace molm::io {

class AtomicFile {
 public:
  /// Create the temporary file next to `target`; `component` names the caller in errors.
  AtomicFile(std::filesystem::path target, const char* component)
      : target_(std::move(target)), component_(component) {
    MOLM_CHECK(!target_.filename().empty(), component_, "cannot write to {}: not a file name", target_.string());
    const std::filesystem::path dir = target_.parent_path().empty() ? "." : target_.parent_path();
    // A unique name per process and call, hidden, and recognisable if a crash ever leaves it behind.
    static std::atomic<unsigned> counter{0};
    const auto tick = std::chrono::steady_clock::now().time_since_epoch().count();
    // (fmt, not "." + std::string: GCC 12 warns falsely about that with -Wrestrict, bug 105329)
    temp_ = dir / fmt::format(".{}.tmp.{}.{}.{}", target_.filename().string(), ::getpid(), counter++, tick & 0xffffff);
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    MOLM_CHECK(fd_ >= 0, component_, "cannot create a temporary file in {} to write {}: {}", dir.string(),
               target_.filename().string(), std::strerror(errno));
  }

  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() { abandon(); }

  /// Append `n` bytes.
  void write(const void* data, std::size_t n) {
    MOLM_CHECK(fd_ >= 0, component_, "write to {} after commit", target_.string());
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ::ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        const int err = w < 0 ? errno : EIO;
        abandon();
        MOLM_THROW(component_, "writing {} failed after {} bytes: {}", target_.string(), written_,
                   std::strerror(err));
      }
      p += w;
      n -= static_cast<std::size_t>(w);
      written_ += static_cast<std::size_t>(w);
    }
  }

  std::size_t bytes_written() const { return written_; }

  /// Make the new content durable and visible under the target name.
  void commit() {
    MOLM_CHECK(fd_ >= 0, component_, "{} committed twice", target_.string());
    if (::fsync(fd_) != 0) fail("fsync");
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("close");
    if (::rename(temp_.c_str(), target_.c_str()) != 0) fail("rename");
    temp_.clear();
    // Persist the directory entry too; a file system that cannot fsync a directory is no error.
    const std::filesystem::path dir = target_.parent_path().empty() ? "." : target_.parent_path();
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }

 private:
  [[noreturn]] void fail(const char* what) {
    const int err = errno;
    abandon();
    MOLM_THROW(component_, "writing {}: {} failed: {}", target_.string(), what, std::strerror(err));
  }
  /// Drop the temporary file; the target is untouched.
  void abandon() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!temp_.empty()) ::unlink(temp_.c_str());
    temp_.clear();
  }

  std::filesystem::path target_;
  std::filesystem::path temp_;
  const char* component_;
  int fd_ = -1;
  std::size_t written_ = 0;
};

/// Copy the file `from` to `to` through an AtomicFile (a tokenizer or vocabulary kept beside a
/// checkpoint); `component` names the caller in errors.
inline void copy_file_atomically(const std::filesystem::path& from, const std::filesystem::path& to,
                                 const char* component) {
  std::ifstream in(from, std::ios::binary);
  MOLM_CHECK(in, component, "cannot read {}", from.string());
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  AtomicFile out(to, component);
  out.write(bytes.data(), bytes.size());
  out.commit();
}

}  // namespace molm::io

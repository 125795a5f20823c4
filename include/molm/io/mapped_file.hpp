// MappedFile: a whole file mapped into memory, unmapped when the last owner lets go.
//
// Checkpoint readers hand out tensors that point straight into the mapping, so those tensors
// hold a shared_ptr<MappedFile> and the mapping outlives the reader object itself.
//
// The file is opened read-only and mapped copy-on-write (MAP_PRIVATE, PROT_READ | PROT_WRITE):
// reading costs nothing extra, and a caller that writes into a loaded tensor in place (an
// optimizer step on a parameter taken straight from a checkpoint) gets a private copy of the
// touched pages instead of a SIGSEGV; nothing is ever written back to the file.
// As with every mmap reader (PyTorch's and safetensors' included), a file truncated by another
// process while it is mapped raises SIGBUS on access: do not rewrite checkpoints in place.
#pragma once

#include "molm/core/error.hpp"

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace molm::io {

class MappedFile {
 public:
  /// Map `path`; `component` names the caller in errors ("safetensors").
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path, const char* component) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    MOLM_CHECK(fd >= 0, component, "cannot open {}: {}", path.string(), std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      MOLM_THROW(component, "{} is not a regular file", path.string());
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    void* p = nullptr;
    if (size > 0) {  // mmap of length 0 is an error; an empty file simply has no bytes
      p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      const int err = errno;
      ::close(fd);  // the mapping keeps the file alive
      MOLM_CHECK(p != MAP_FAILED, component, "cannot map {} ({} bytes): {}", path.string(), size,
                 std::strerror(err));
    } else {
      ::close(fd);
    }
    return std::shared_ptr<const MappedFile>(new MappedFile(path, static_cast<std::byte*>(p), size));
  }

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (size_) ::munmap(data_, size_);
  }

  /// The first byte of the file (writable: the mapping is private copy-on-write).
  std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile(std::filesystem::path path, std::byte* data, std::size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::filesystem::path path_;
  std::byte* data_;
  std::size_t size_;
};

}  // namespace molm::io

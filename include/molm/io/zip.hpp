// ZipArchive: the entries of a zip file held in memory (a mapped file or a caller's buffer).
//
//   io::ZipArchive zip = io::ZipArchive::open("model.pt");
//   for (const io::ZipEntry& e : zip.entries()) ...            // name, method, sizes, data offset
//   std::span<std::byte> raw = zip.stored(zip.entry("model/data/0"));   // in place, no copy
//   std::string pkl = zip.read(zip.entry("model/data.pkl"), 1 << 30);  // copied or inflated, CRC checked
//
// Debian's minizip (1.1) finds the end records (ZIP64 too) and walks the central directory through
// I/O callbacks that read the memory directly: no second open, no copy of the archive. minizip 1.1
// never applies an entry's ZIP64 extra field on 64-bit Linux (see apply_zip64_extra), so molm reads
// that field itself: files over 4 GB (a 7B bf16 checkpoint) work. molm then checks what minizip
// leaves to its caller: every entry's data lies inside the file, entries' data do not overlap (the
// overlapping-entries zip bomb), names are unique, stored entries have equal sizes.
//
// Stored entries (all that torch.save writes: it pads records to 64-byte boundaries so tensors can
// be mapped in place) are exposed as spans into the memory. Deflated entries are inflated by zlib into
// exactly their declared size, and only when that size is under the caller's cap and plausible for
// the compressed size (deflate cannot expand more than 1032:1): a stream that yields more or fewer
// bytes than declared, or fails its CRC, is an error. So no input makes molm allocate much more than
// the file's size × 1032 or the cap, whichever is smaller. Not supported: encryption, compression
// methods other than stored and deflate, split archives (minizip refuses them).
//
// A ZipArchive is immutable once constructed (safe to share between threads); copies share the bytes.
#pragma once

#include "molm/core/error.hpp"
#include "molm/io/mapped_file.hpp"
#include "molm/io/safetensors_header.hpp"  // io::detail::printable

#include <minizip/unzip.h>
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace molm::io {

/// One member of a zip archive, as its central directory describes it.
struct ZipEntry {
  std::string name;
  int method = 0;                       ///< 0 stored, 8 deflate (others cannot be read)
  bool encrypted = false;               ///< general-purpose flag bit 0
  std::uint32_t crc32 = 0;              ///< CRC-32 of the uncompressed bytes
  std::uint64_t compressed_size = 0;    ///< bytes in the file
  std::uint64_t uncompressed_size = 0;  ///< bytes once read
  std::uint64_t data_offset = 0;        ///< file offset of the first data byte (after the local header)
  bool stored() const { return method == 0; }
};

class ZipArchive {
 public:
  /// Deflate's largest expansion is about 1032:1 (258-byte matches coded in 2 bits); a declared
  /// size beyond compressed × kMaxDeflateRatio + kDeflateSlack cannot be genuine.
  static constexpr std::uint64_t kMaxDeflateRatio = 1032;
  static constexpr std::uint64_t kDeflateSlack = 4096;
  /// A central directory record is at least 46 bytes; no more entries than this are read.
  static constexpr std::uint64_t kMaxEntries = std::uint64_t{1} << 22;

  /// Map `path` and read its central directory.
  static ZipArchive open(const std::filesystem::path& path) { return ZipArchive(MappedFile::open(path, "zip")); }
  /// An archive over a caller's bytes (tests, fuzzing, data that never touched a disk). `name` is
  /// used in error messages.
  static ZipArchive from_memory(std::vector<std::byte> bytes, std::string name) {
    auto owned = std::make_shared<std::vector<std::byte>>(std::move(bytes));
    std::byte* data = owned->data();
    const std::size_t size = owned->size();
    return ZipArchive(std::move(owned), data, size, std::move(name));
  }
  explicit ZipArchive(std::shared_ptr<const MappedFile> file)
      : ZipArchive(file, file->data(), file->size(), file->path().string()) {}
  /// The general form: `size` bytes at `data`, kept alive (and writable) as long as `owner` lives.
  ZipArchive(std::shared_ptr<const void> owner, std::byte* data, std::size_t size, std::string name)
      : owner_(std::move(owner)), data_(data), size_(size), name_(std::move(name)) {
    list_entries();
  }

  /// The file name (or the name given to from_memory), for messages.
  const std::string& name() const { return name_; }
  /// The archive's bytes and what keeps them alive: capture owner() in anything that outlives this.
  std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::shared_ptr<const void>& owner() const { return owner_; }

  /// Entries in central-directory order.
  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const {
    const auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &entries_[it->second];
  }
  const ZipEntry& entry(std::string_view name) const {
    const ZipEntry* e = find(name);
    MOLM_CHECK(e, "zip", "{}: no entry named '{}'", name_, detail::printable(name));
    return *e;
  }

  /// A stored entry's bytes, in place (no copy; the CRC is not checked, see verify_crc).
  std::span<std::byte> stored(const ZipEntry& e) const {
    check_readable(e);
    MOLM_CHECK(e.stored(), "zip", "{}: entry '{}' is compressed (method {}); it cannot be used in place", name_,
               detail::printable(e.name), e.method);
    return {data_ + e.data_offset, static_cast<std::size_t>(e.compressed_size)};
  }

  /// Check that reading `e` would allocate at most `max_bytes` and that its declared size is one
  /// its compressed size can genuinely produce; throws otherwise. read_into() calls this.
  void check_size(const ZipEntry& e, std::uint64_t max_bytes) const {
    check_readable(e);
    MOLM_CHECK(e.uncompressed_size <= max_bytes, "zip", "{}: entry '{}' declares {} bytes, over the limit of {}", name_,
               detail::printable(e.name), e.uncompressed_size, max_bytes);
    if (e.method == Z_DEFLATED) {
      const std::uint64_t most = e.compressed_size * kMaxDeflateRatio + kDeflateSlack;
      MOLM_CHECK(e.uncompressed_size <= most, "zip",
                 "{}: entry '{}' declares {} bytes from {} compressed bytes, more than deflate can produce "
                 "(a zip bomb or a damaged header)",
                 name_, detail::printable(e.name), e.uncompressed_size, e.compressed_size);
    }
  }

  /// Write the entry's uncompressed_size bytes to `out` (copied when stored, inflated when
  /// deflated) and check the CRC. `max_bytes` caps the size, see check_size.
  void read_into(const ZipEntry& e, std::byte* out, std::uint64_t max_bytes) const {
    check_size(e, max_bytes);
    if (e.stored()) {
      if (e.uncompressed_size) std::memcpy(out, data_ + e.data_offset, static_cast<std::size_t>(e.uncompressed_size));
    } else {
      inflate_into(e, out);
    }
    check_crc(e, out);
  }
  /// The entry's bytes as a string (small entries: the pickle, version records).
  std::string read(const ZipEntry& e, std::uint64_t max_bytes) const {
    check_size(e, max_bytes);
    std::string s(static_cast<std::size_t>(e.uncompressed_size), '\0');
    read_into(e, reinterpret_cast<std::byte*>(s.data()), max_bytes);
    return s;
  }
  /// Check a stored entry's CRC in place (reads every byte: cheap for small entries only).
  void verify_crc(const ZipEntry& e) const {
    const auto bytes = stored(e);
    check_crc(e, bytes.data());
  }

 private:
  // ---- minizip reads through these: the "file" is our memory ----------------------------------
  struct Cursor {
    const std::byte* data;
    std::uint64_t size;
    std::uint64_t pos = 0;
  };
  static voidpf cb_open(voidpf opaque, const void*, int mode) {
    if (mode & ZLIB_FILEFUNC_MODE_WRITE) return nullptr;
    static_cast<Cursor*>(opaque)->pos = 0;
    return opaque;
  }
  static uLong cb_read(voidpf, voidpf stream, void* buf, uLong n) {
    auto* c = static_cast<Cursor*>(stream);
    const std::uint64_t left = c->pos < c->size ? c->size - c->pos : 0;
    const std::uint64_t k = std::min<std::uint64_t>(n, left);
    if (k) std::memcpy(buf, c->data + c->pos, static_cast<std::size_t>(k));
    c->pos += k;
    return static_cast<uLong>(k);
  }
  static uLong cb_write(voidpf, voidpf, const void*, uLong) { return 0; }
  static ZPOS64_T cb_tell(voidpf, voidpf stream) { return static_cast<Cursor*>(stream)->pos; }
  /// Like fseeko: relative offsets may be negative (minizip seeks back over extra fields).
  static long cb_seek(voidpf, voidpf stream, ZPOS64_T offset, int origin) {
    auto* c = static_cast<Cursor*>(stream);
    std::int64_t to = 0;
    if (origin == ZLIB_FILEFUNC_SEEK_SET) {
      if (offset > c->size) return -1;
      to = static_cast<std::int64_t>(offset);
    } else if (origin == ZLIB_FILEFUNC_SEEK_CUR || origin == ZLIB_FILEFUNC_SEEK_END) {
      const auto base = static_cast<std::int64_t>(origin == ZLIB_FILEFUNC_SEEK_CUR ? c->pos : c->size);
      if (__builtin_add_overflow(base, static_cast<std::int64_t>(offset), &to)) return -1;
    } else {
      return -1;
    }
    if (to < 0 || static_cast<std::uint64_t>(to) > c->size) return -1;
    c->pos = static_cast<std::uint64_t>(to);
    return 0;
  }
  static int cb_close(voidpf, voidpf) { return 0; }
  static int cb_error(voidpf, voidpf) { return 0; }

  /// Read the central directory (and every local header, for the data offsets) and validate it.
  void list_entries() {
    Cursor cursor{data_, size_};
    zlib_filefunc64_def io{};
    io.zopen64_file = cb_open;
    io.zread_file = cb_read;
    io.zwrite_file = cb_write;
    io.ztell64_file = cb_tell;
    io.zseek64_file = cb_seek;
    io.zclose_file = cb_close;
    io.zerror_file = cb_error;
    io.opaque = &cursor;
    unzFile zf = unzOpen2_64(name_.c_str(), &io);
    MOLM_CHECK(zf, "zip",
               "{}: not a zip archive, or its end-of-central-directory record is missing or damaged "
               "(a truncated file?)",
               name_);
    struct Closer {
      unzFile f;
      ~Closer() { unzClose(f); }
    } closer{zf};

    unz_global_info64 gi{};
    MOLM_CHECK(unzGetGlobalInfo64(zf, &gi) == UNZ_OK, "zip", "{}: unreadable central directory", name_);
    MOLM_CHECK(gi.number_entry <= kMaxEntries && gi.number_entry <= size_ / 46, "zip",
               "{}: the central directory declares {} entries, impossible for a file of {} bytes", name_,
               gi.number_entry, size_);
    entries_.reserve(static_cast<std::size_t>(gi.number_entry));
    std::string namebuf(65536, '\0');  // names and extra fields are at most 65535 bytes (16-bit lengths)
    std::string extrabuf(65536, '\0');
    for (std::uint64_t i = 0; i < gi.number_entry; ++i) {
      const int moved = i == 0 ? unzGoToFirstFile(zf) : unzGoToNextFile(zf);
      MOLM_CHECK(moved == UNZ_OK, "zip", "{}: central directory record {} of {} is missing or damaged", name_, i + 1,
                 gi.number_entry);
      unz_file_info64 fi{};
      MOLM_CHECK(unzGetCurrentFileInfo64(zf, &fi, namebuf.data(), static_cast<uLong>(namebuf.size()), extrabuf.data(),
                                         static_cast<uLong>(extrabuf.size()), nullptr, 0) == UNZ_OK,
                 "zip", "{}: central directory record {} is damaged", name_, i + 1);
      const std::string_view extra(extrabuf.data(), std::min<std::size_t>(fi.size_file_extra, extrabuf.size()));
      ZipEntry e;
      e.name.assign(namebuf.data(), std::min<std::size_t>(fi.size_filename, namebuf.size() - 1));
      e.method = static_cast<int>(fi.compression_method);
      e.encrypted = (fi.flag & 1u) != 0;
      e.crc32 = static_cast<std::uint32_t>(fi.crc);
      e.compressed_size = fi.compressed_size;
      e.uncompressed_size = fi.uncompressed_size;
      // Raw open: reads and cross-checks the local header without starting to inflate.
      int method = 0, level = 0;
      const bool opened = unzOpenCurrentFile2(zf, &method, &level, 1) == UNZ_OK;
      if (opened) {
        e.data_offset = unzGetCurrentFileZStreamPos64(zf);
        unzCloseCurrentFile(zf);
      }
      apply_zip64_extra(e, extra, opened);
      validate(e);
      MOLM_CHECK(index_.emplace(e.name, entries_.size()).second, "zip",
                 "{}: entry name '{}' appears twice (readers would disagree on which one counts)", name_,
                 detail::printable(e.name));
      entries_.push_back(std::move(e));
    }
    check_no_overlap();
  }

  /// Debian's minizip 1.1 compares the central directory's 32-bit fields with (unsigned long)-1,
  /// which is 2^64-1 on LP64 systems, so it never applies a ZIP64 extra field: entries of files over
  /// 4 GB keep sizes 0xFFFFFFFF and a local header offset of 0xFFFFFFFF. Apply the extra field here
  /// when minizip did not (a fixed minizip reports real sizes and opens the entry itself).
  void apply_zip64_extra(ZipEntry& e, std::string_view extra, bool opened) const {
    constexpr std::uint64_t kMarker = 0xFFFFFFFFu;
    const bool usize = e.uncompressed_size == kMarker, csize = e.compressed_size == kMarker;
    if (opened && !usize && !csize) return;
    const std::string n = detail::printable(e.name);
    // Find the ZIP64 record (header id 1) among the extra field's records.
    std::string_view z64;
    bool found = false;
    while (extra.size() >= 4 && !found) {
      const std::size_t id = le(extra, 0, 2), len = le(extra, 2, 2);
      MOLM_CHECK(4 + len <= extra.size(), "zip", "{}: entry '{}': malformed extra field in the central directory",
                 name_, n);
      if (id == 1) z64 = extra.substr(4, len), found = true;
      extra.remove_prefix(4 + len);
    }
    MOLM_CHECK(found, "zip",
               "{}: entry '{}': the local header is missing, damaged or disagrees with the central directory", name_,
               n);
    // Its fields appear only for the header fields set to 0xFFFFFFFF, in this order.
    std::size_t at = 0;
    auto next = [&](const char* what) {
      MOLM_CHECK(at + 8 <= z64.size(), "zip", "{}: entry '{}': the ZIP64 extra field lacks the {}", name_, n, what);
      const std::uint64_t v = le(z64, at, 8);
      at += 8;
      return v;
    };
    if (usize) e.uncompressed_size = next("uncompressed size");
    if (csize) e.compressed_size = next("compressed size");
    if (opened) return;
    e.data_offset = local_data_offset(e, next("local header offset"));
  }
  static std::uint64_t le(std::string_view s, std::size_t at, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
    return v;
  }
  /// The data offset behind the local header at `local`, which must name the same entry and method.
  std::uint64_t local_data_offset(const ZipEntry& e, std::uint64_t local) const {
    const std::string n = detail::printable(e.name);
    MOLM_CHECK(local <= size_ && size_ - local >= 30, "zip",
               "{}: entry '{}': local header offset {} is outside the file", name_, n, local);
    const std::string_view h(reinterpret_cast<const char*>(data_ + local), size_ - local);
    const std::uint64_t name_len = le(h, 26, 2), extra_len = le(h, 28, 2);
    MOLM_CHECK(le(h, 0, 4) == 0x04034b50 && 30 + name_len + extra_len <= h.size() && h.substr(30, name_len) == e.name &&
                   static_cast<int>(le(h, 8, 2)) == e.method,
               "zip", "{}: entry '{}': the local header at byte {} is missing, damaged or names another entry", name_,
               n, local);
    return local + 30 + name_len + extra_len;
  }

  void validate(const ZipEntry& e) const {
    const std::string n = detail::printable(e.name);
    MOLM_CHECK(e.data_offset <= size_ && e.compressed_size <= size_ - e.data_offset, "zip",
               "{}: entry '{}': data [{}, +{}) lies outside the file ({} bytes)", name_, n, e.data_offset,
               e.compressed_size, size_);
    MOLM_CHECK(!e.stored() || e.compressed_size == e.uncompressed_size, "zip",
               "{}: stored entry '{}' has {} bytes in the file but declares {}", name_, n, e.compressed_size,
               e.uncompressed_size);
  }

  /// Two entries sharing bytes would let a small file declare a huge total (Fifield's zip bomb).
  void check_no_overlap() const {
    std::vector<std::size_t> order(entries_.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return entries_[a].data_offset < entries_[b].data_offset; });
    const ZipEntry* last = nullptr;  // the entry whose data reaches furthest so far
    for (const std::size_t k : order) {
      const ZipEntry& e = entries_[k];
      if (e.compressed_size == 0) continue;
      if (last) {
        MOLM_CHECK(last->data_offset + last->compressed_size <= e.data_offset, "zip",
                   "{}: the data of entries '{}' and '{}' overlap", name_, detail::printable(last->name),
                   detail::printable(e.name));
      }
      last = &e;  // sorted and disjoint so far: e ends after every earlier entry
    }
  }

  void check_readable(const ZipEntry& e) const {
    MOLM_CHECK(!e.encrypted, "zip", "{}: entry '{}' is encrypted", name_, detail::printable(e.name));
    MOLM_CHECK(e.method == 0 || e.method == Z_DEFLATED, "zip",
               "{}: entry '{}' uses compression method {}; only stored (0) and deflate (8) are supported", name_,
               detail::printable(e.name), e.method);
  }

  /// Raw deflate into exactly uncompressed_size bytes: a byte more, or a stream ending early, throws.
  void inflate_into(const ZipEntry& e, std::byte* out) const {
    const std::string n = detail::printable(e.name);
    z_stream zs{};
    MOLM_CHECK(inflateInit2(&zs, -MAX_WBITS) == Z_OK, "zip", "{}: entry '{}': zlib cannot start", name_, n);
    struct Ender {
      z_stream* z;
      ~Ender() { inflateEnd(z); }
    } ender{&zs};
    constexpr std::uint64_t kChunk = std::uint64_t{1} << 30;  // zlib counts in 32-bit uInt
    const auto* in = reinterpret_cast<const Bytef*>(data_ + e.data_offset);
    std::uint64_t in_left = e.compressed_size, out_done = 0;
    unsigned char probe = 0;  // where a byte past the declared size would land
    for (;;) {
      if (zs.avail_in == 0 && in_left) {
        zs.next_in = const_cast<Bytef*>(in);
        zs.avail_in = static_cast<uInt>(std::min(in_left, kChunk));
        in += zs.avail_in;
        in_left -= zs.avail_in;
      }
      if (zs.avail_out == 0) {
        out_done = zs.total_out;
        const std::uint64_t out_left = e.uncompressed_size - out_done;
        zs.next_out = out_left ? reinterpret_cast<Bytef*>(out + out_done) : &probe;
        zs.avail_out = out_left ? static_cast<uInt>(std::min(out_left, kChunk)) : 1;
      }
      const int rc = inflate(&zs, Z_NO_FLUSH);
      MOLM_CHECK(zs.total_out <= e.uncompressed_size, "zip",
                 "{}: entry '{}' inflates to more than its declared {} bytes (a zip bomb or a damaged header)", name_,
                 n, e.uncompressed_size);
      if (rc == Z_STREAM_END) break;
      if (rc == Z_OK) continue;
      MOLM_CHECK(!(rc == Z_BUF_ERROR && zs.avail_in == 0 && in_left == 0), "zip",
                 "{}: entry '{}': the deflate stream ends before its declared {} bytes (truncated)", name_, n,
                 e.uncompressed_size);
      MOLM_THROW("zip", "{}: entry '{}': corrupt deflate data ({})", name_, n, zs.msg ? zs.msg : "zlib error");
    }
    MOLM_CHECK(zs.total_out == e.uncompressed_size, "zip", "{}: entry '{}' inflates to {} bytes but declares {}", name_,
               n, static_cast<std::uint64_t>(zs.total_out), e.uncompressed_size);
  }

  void check_crc(const ZipEntry& e, const std::byte* bytes) const {
    const auto crc = crc32_z(crc32_z(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes),
                             static_cast<z_size_t>(e.uncompressed_size));
    MOLM_CHECK(static_cast<std::uint32_t>(crc) == e.crc32, "zip",
               "{}: entry '{}' fails its CRC check (stored {:08x}, computed {:08x}): the file is damaged", name_,
               detail::printable(e.name), e.crc32, static_cast<std::uint32_t>(crc));
  }

  std::shared_ptr<const void> owner_;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::string name_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace molm::io

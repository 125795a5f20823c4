// safetensors files: read through mmap without copying, write atomically; sharded HF checkpoints.
//
//   SafetensorsFile f("model.safetensors");          // maps the file, validates the whole header
//   Tensor w = f.tensor("lm_head.weight");           // zero-copy view into the mapping
//   auto all = load_safetensors("model.safetensors.index.json");   // name -> tensor, sharded too
//   save_safetensors("out.safetensors", all, {{"format", "pt"}});  // temp file + fsync + rename
//
// A tensor read from a file shares the mapping (its Storage holds a shared_ptr to it), so it stays
// valid after the SafetensorsFile is gone. The mapping is copy-on-write: writing into such a tensor
// in place is allowed and never reaches the file (see io/mapped_file.hpp). A tensor whose bytes
// are not aligned for its element type in the file (possible in files from other writers; never
// in files molm or the reference library writes, which order tensors by alignment) is copied into
// fresh aligned memory instead, since kernels dereference typed pointers.
#pragma once

#include "molm/io/atomic_file.hpp"
#include "molm/io/mapped_file.hpp"
#include "molm/io/safetensors_header.hpp"
#include "molm/ops/view.hpp"

#include <nlohmann/json.hpp>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace molm {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; so must the host be");

/// One safetensors file, mapped and validated.
class SafetensorsFile {
 public:
  /// Map `path` and validate its header; throws molm::error naming the file and the problem.
  explicit SafetensorsFile(const std::filesystem::path& path)
      : file_(io::MappedFile::open(path, "safetensors")),
        header_(io::detail::parse_safetensors_header(file_->data(), file_->size(), path.string())) {}

  const std::filesystem::path& path() const { return file_->path(); }
  /// Tensor names, sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(header_.tensors.size());
    for (const auto& kv : header_.tensors) out.push_back(kv.first);
    return out;
  }
  std::size_t size() const { return header_.tensors.size(); }
  bool contains(const std::string& name) const { return header_.tensors.count(name) != 0; }
  /// dtype, shape and byte range (relative to the data section, which starts at data_start()).
  const SafetensorInfo& info(const std::string& name) const {
    const auto it = header_.tensors.find(name);
    MOLM_CHECK(it != header_.tensors.end(), "safetensors", "{}: no tensor named '{}'", path().string(),
               io::detail::printable(name));
    return it->second;
  }
  std::uint64_t data_start() const { return header_.data_start; }
  /// The `__metadata__` string map (empty when the file has none).
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }

  /// The tensor `name`: a view into the mapping, or an aligned copy where the file misaligns it.
  Tensor tensor(const std::string& name) const {
    const SafetensorInfo& in = info(name);
    std::byte* bytes = file_->data() + header_.data_start + in.begin;
    if (in.dtype == DType::boolean) check_bools(name, in, bytes);
    const auto nbytes = static_cast<std::size_t>(in.nbytes());
    const bool aligned = reinterpret_cast<std::uintptr_t>(bytes) % itemsize(in.dtype) == 0;
    if (nbytes == 0 || !aligned) {
      Tensor t = Tensor::empty(in.shape, in.dtype);
      if (nbytes) std::memcpy(t.raw_data(), bytes, nbytes);
      return t;
    }
    // The release function owns a reference to the mapping: the last tensor using it unmaps it.
    auto storage = Storage::wrap(bytes, nbytes, kCPU, [keep = file_](void*) {});
    return Tensor::from_storage(std::move(storage), in.dtype, in.shape, contiguous_strides(in.shape), 0);
  }

  /// Every tensor, by name.
  std::map<std::string, Tensor> tensors() const {
    std::map<std::string, Tensor> out;
    for (const auto& kv : header_.tensors) out.emplace(kv.first, tensor(kv.first));
    return out;
  }

 private:
  /// A C++ bool must be 0 or 1; any other byte would make reading it undefined behaviour.
  void check_bools(const std::string& name, const SafetensorInfo& in, const std::byte* bytes) const {
    for (std::uint64_t i = 0; i < in.nbytes(); ++i) {
      const auto b = static_cast<unsigned>(bytes[i]);
      MOLM_CHECK(b <= 1, "safetensors", "{}: tensor '{}': BOOL byte {} at file offset {} is not 0 or 1",
                 path().string(), io::detail::printable(name), b, header_.data_start + in.begin + i);
    }
  }

  std::shared_ptr<const io::MappedFile> file_;
  io::detail::SafetensorsHeader header_;
};

namespace io::detail {
/// weight_map[name] of a sharded checkpoint's index: a plain file name in the index's folder (a
/// path elsewhere would let an index read any file).
inline const std::string& index_shard_file(const nlohmann::json& shard, const std::string& name,
                                           const std::string& where, const char* component) {
  const std::string n = printable(name);
  MOLM_CHECK(shard.is_string(), component, "{}: weight_map['{}'] is {}, not a file name", where, n, shard.type_name());
  const auto& file = shard.get_ref<const std::string&>();
  MOLM_CHECK(!file.empty() && file != "." && file != ".." && file.find('/') == std::string::npos, component,
             "{}: weight_map['{}'] = '{}' is not a plain file name in the index's folder", where, n, printable(file));
  return file;
}
}  // namespace io::detail

/// A sharded Hugging Face checkpoint: `model.safetensors.index.json` whose `weight_map` maps each
/// tensor name to the shard file (in the index's folder) that holds it.
class SafetensorsIndex {
 public:
  /// Read the index, open every shard, and check that each listed tensor is in its shard.
  explicit SafetensorsIndex(const std::filesystem::path& index_path) : path_(index_path) {
    constexpr const char* C = "safetensors";
    const std::string where = index_path.string();
    const nlohmann::json j = io::detail::parse_json_strict(read_small_file(index_path), where, 0, C);
    MOLM_CHECK(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), C,
               "{}: not a safetensors index (needs an object with a \"weight_map\" object)", where);
    if (j.contains("metadata")) metadata_ = j["metadata"];
    const auto dir = index_path.parent_path();
    for (const auto& [tname, shard] : j["weight_map"].items()) {
      const std::string n = io::detail::printable(tname);
      const std::string& file = io::detail::index_shard_file(shard, tname, where, C);
      auto it = shards_.find(file);
      if (it == shards_.end()) {
        try {
          it = shards_.emplace(file, SafetensorsFile(dir / file)).first;
        } catch (const error& e) {
          MOLM_THROW(C, "{}: shard '{}' (listed for tensor '{}') cannot be read: {}", where,
                     io::detail::printable(file), n, e.what());
        }
      }
      MOLM_CHECK(it->second.contains(tname), C, "{}: tensor '{}' is mapped to shard '{}', which does not contain it",
                 where, n, io::detail::printable(file));
      weight_map_.emplace(tname, file);
    }
  }

  const std::filesystem::path& path() const { return path_; }
  /// Tensor names listed in weight_map, sorted (tensors a shard holds but the index omits are ignored).
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& kv : weight_map_) out.push_back(kv.first);
    return out;
  }
  bool contains(const std::string& name) const { return weight_map_.count(name) != 0; }
  /// The shard file name holding `name`.
  const std::string& shard_of(const std::string& name) const {
    const auto it = weight_map_.find(name);
    MOLM_CHECK(it != weight_map_.end(), "safetensors", "{}: no tensor named '{}'", path_.string(),
               io::detail::printable(name));
    return it->second;
  }
  const SafetensorsFile& shard(const std::string& file) const {
    const auto it = shards_.find(file);
    MOLM_CHECK(it != shards_.end(), "safetensors", "{}: no shard '{}'", path_.string(), io::detail::printable(file));
    return it->second;
  }
  const SafetensorInfo& info(const std::string& name) const { return shard(shard_of(name)).info(name); }
  Tensor tensor(const std::string& name) const { return shard(shard_of(name)).tensor(name); }
  std::map<std::string, Tensor> tensors() const {
    std::map<std::string, Tensor> out;
    for (const auto& [name, file] : weight_map_) out.emplace(name, shard(file).tensor(name));
    return out;
  }
  /// The index's "metadata" object (e.g. {"total_size": ...}), null when absent.
  const nlohmann::json& metadata() const { return metadata_; }

 private:
  static std::string read_small_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    MOLM_CHECK(in.good(), "safetensors", "cannot open {}", p.string());
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::uint64_t>(in.tellg());
    MOLM_CHECK(size <= io::detail::kSafetensorsMaxHeader, "safetensors", "{}: index of {} bytes is implausibly large",
               p.string(), size);
    in.seekg(0);
    std::string s(static_cast<std::size_t>(size), '\0');
    in.read(s.data(), static_cast<std::streamsize>(size));
    MOLM_CHECK(in.gcount() == static_cast<std::streamsize>(size), "safetensors", "cannot read {}", p.string());
    return s;
  }

  std::filesystem::path path_;
  std::map<std::string, SafetensorsFile> shards_;
  std::map<std::string, std::string> weight_map_;
  nlohmann::json metadata_;
};

/// All tensors of a `.safetensors` file, or of a sharded checkpoint given its `*.index.json`.
inline std::map<std::string, Tensor> load_safetensors(const std::filesystem::path& path) {
  const std::string f = path.filename().string();
  const std::string suffix = ".index.json";
  if (f.size() > suffix.size() && f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0)
    return SafetensorsIndex(path).tensors();
  return SafetensorsFile(path).tensors();
}

/// Write `tensors` (any dtype, any layout, CPU) and `metadata` to `path` atomically: the old file
/// stays intact unless the new one is complete and durable. Data is ordered by alignment, then
/// name (as the reference writer does), so every tensor is aligned when mapped back.
inline void save_safetensors(const std::filesystem::path& path, const std::map<std::string, Tensor>& tensors,
                             const std::map<std::string, std::string>& metadata = {}) {
  constexpr const char* C = "safetensors";
  using io::detail::is_valid_utf8;
  using io::detail::printable;
  const std::string where = path.string();
  for (const auto& [k, v] : metadata)
    MOLM_CHECK(is_valid_utf8(k) && is_valid_utf8(v), C, "{}: metadata '{}' is not valid UTF-8", where, printable(k));

  // Validate everything before the first byte is written.
  std::vector<std::pair<const std::string*, const Tensor*>> order;
  for (const auto& [name, t] : tensors) {
    MOLM_CHECK(is_valid_utf8(name), C, "{}: tensor name '{}' is not valid UTF-8", where, printable(name));
    MOLM_CHECK(name != "__metadata__", C, "{}: '__metadata__' is reserved and cannot name a tensor", where);
    MOLM_CHECK(t.defined(), C, "{}: tensor '{}' is undefined", where, printable(name));
    MOLM_CHECK(t.device().type == DeviceType::cpu, C, "{}: tensor '{}' is on {}; move it to the CPU first", where,
               printable(name), t.device().str());
    order.emplace_back(&name, &t);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.second->itemsize() > b.second->itemsize(); });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : order) {
    const std::uint64_t nbytes = static_cast<std::uint64_t>(t->numel()) * t->itemsize();
    header[*name] = {{"dtype", io::detail::safetensors_dtype_name(t->dtype())},
                     {"shape", t->shape().vec()},
                     {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // pad so the data section starts 8-byte aligned

  io::AtomicFile out(path, C);
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
  out.write(len, 8);
  out.write(text.data(), text.size());
  for (const auto& [name, t] : order) {
    const Tensor c = t->detach().contiguous();  // row-major bytes; copies only a non-contiguous view
    out.write(c.raw_data(), static_cast<std::size_t>(c.numel()) * c.itemsize());
  }
  out.commit();
}

}  // namespace molm

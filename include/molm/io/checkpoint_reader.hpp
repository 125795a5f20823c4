// CheckpointReader: one way to open any checkpoint molm reads, whatever wrote it.
//
//   auto ck = io::CheckpointReader::open("model.safetensors");   // or .index.json, .pt, .ckpt,
//   for (const auto& t : ck.listing()) ...                         // llama2.c .bin, or a folder
//   nn::StateDict sd = ck.state_dict();                            // tensors by their HF/PyTorch names
//   model.load_state_dict(sd);
//
// The format is found from the content, not trusted from the extension: a `.bin` is a PyTorch zip
// when it starts with a zip signature and a llama2.c file otherwise. A checkpoint folder whose save
// was interrupted is read from its backup, as load_checkpoint would (io/checkpoint_dir.hpp). A folder is a molm checkpoint
// directory (config.json + model.safetensors) or a Hugging Face model folder (model.safetensors, its
// sharded index, or PyTorch's pytorch_model.bin or its sharded index). Listing reads only headers: tensors are materialised (zero-copy where the
// format allows) when asked for. Non-fatal findings (inert pickled objects, skipped entries) are in
// warnings(); anything malformed throws molm::error naming the file and the place.
//
// compare_listings() is strict loading without a model: the report a module with the `expected`
// tensors would give for the `given` ones (what `molm inspect --against` prints).
#pragma once

#include "molm/core/error.hpp"
#include "molm/io/checkpoint_dir.hpp"
#include "molm/io/llama2c.hpp"
#include "molm/io/safetensors.hpp"
#include "molm/io/torch_checkpoint.hpp"
#include "molm/nn/state_dict.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace molm::io {

enum class CheckpointFormat {
  safetensors,        ///< one .safetensors file
  safetensors_index,  ///< a sharded Hugging Face checkpoint (model.safetensors.index.json)
  pytorch,            ///< torch.save's zip format: .pt, .bin, Lightning .ckpt
  pytorch_index,      ///< sharded PyTorch .bin files (pytorch_model.bin.index.json)
  llama2c,            ///< a llama2.c .bin (v0 header), as HF Llama tensors
  directory,          ///< a folder: molm checkpoint directory or Hugging Face model folder
};

constexpr std::string_view format_name(CheckpointFormat f) {
  switch (f) {
    case CheckpointFormat::safetensors: return "safetensors";
    case CheckpointFormat::safetensors_index: return "safetensors-index";
    case CheckpointFormat::pytorch: return "pytorch";
    case CheckpointFormat::pytorch_index: return "pytorch-index";
    case CheckpointFormat::llama2c: return "llama2c";
    case CheckpointFormat::directory: return "directory";
  }
  return "unknown";
}

/// What a checkpoint says about one tensor, before its data is read.
struct TensorListing {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  std::uint64_t nbytes = 0;  ///< bytes of the tensor's elements (numel × itemsize)
};

class CheckpointReader {
 public:
  /// Open `path`, detect its format from its content, and list its tensors.
  static CheckpointReader open(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (!fs::exists(status) && fs::is_directory(detail::checkpoint_backup_path(detail::checkpoint_dir_path(path)), ec)) {
      // A checkpoint save was interrupted after moving the old one aside: read that (checkpoint_dir.hpp).
      CheckpointReader r = open_directory(find_checkpoint(path));
      r.warnings_.push_back(fmt::format("{} is missing after an interrupted save; listing its backup {}",
                                        path.string(), r.path_.string()));
      return r;
    }
    MOLM_CHECK(fs::exists(status), "checkpoint", "{}: no such file or folder", path.string());
    if (fs::is_directory(status)) return open_directory(path);
    MOLM_CHECK(fs::is_regular_file(status), "checkpoint", "{}: not a regular file or folder", path.string());
    return open_file(path);
  }

  CheckpointFormat format() const { return format_; }
  const std::filesystem::path& path() const { return path_; }
  /// Every tensor in the checkpoint's own order (sorted by name for safetensors, which keeps none).
  const std::vector<TensorListing>& listing() const { return listing_; }
  /// Things worth knowing that did not stop the reading.
  const std::vector<std::string>& warnings() const { return warnings_; }
  bool contains(const std::string& name) const { return position_.count(name) != 0; }
  const TensorListing& info(const std::string& name) const { return listing_.at(position_of(name)); }

  /// The tensor `name` (a view into the file where possible; see each format's reader).
  Tensor tensor(const std::string& name) const {
    position_of(name);
    return read_(name);
  }

  /// Every tensor, in listing order, under its checkpoint name.
  nn::StateDict state_dict() const {
    nn::StateDict sd;
    for (const auto& t : listing_) sd.insert(t.name, read_(t.name));
    return sd;
  }

  /// Sum of numel over every tensor, and of bytes.
  std::int64_t total_elements() const {
    std::int64_t n = 0;
    for (const auto& t : listing_) n += t.shape.numel();
    return n;
  }
  std::uint64_t total_bytes() const {
    std::uint64_t n = 0;
    for (const auto& t : listing_) n += t.nbytes;
    return n;
  }

 private:
  using Reader = std::function<Tensor(const std::string&)>;

  CheckpointReader(CheckpointFormat format, std::filesystem::path path) : format_(format), path_(std::move(path)) {}

  std::size_t position_of(const std::string& name) const {
    const auto it = position_.find(name);
    MOLM_CHECK(it != position_.end(), "checkpoint", "{}: no tensor named '{}'", path_.string(),
               detail::printable(name));
    return it->second;
  }

  void add(std::string name, DType dtype, Shape shape) {
    const auto nbytes = static_cast<std::uint64_t>(shape.numel()) * itemsize(dtype);
    MOLM_CHECK(position_.emplace(name, listing_.size()).second, "checkpoint", "{}: tensor '{}' is listed twice",
               path_.string(), detail::printable(name));
    listing_.push_back({std::move(name), dtype, std::move(shape), nbytes});
  }

  /// The file's first `n` bytes (fewer when it is shorter).
  static std::string head_of(const std::filesystem::path& p, std::size_t n) {
    std::ifstream in(p, std::ios::binary);
    std::string head(n, '\0');
    in.read(head.data(), static_cast<std::streamsize>(n));
    head.resize(static_cast<std::size_t>(in.gcount()));
    return head;
  }

  /// The format from the first bytes: a zip or pickle is PyTorch's, a plausible safetensors header
  /// (length, then '{') is safetensors, and any other `.bin` is read as llama2.c.
  static CheckpointReader open_file(const std::filesystem::path& path) {
    const std::string ext = path.extension().string();
    if (ext == ".json") return open_index(path);
    const std::string head = head_of(path, 9);
    const auto starts = [&](std::string_view magic) { return std::string_view(head).substr(0, magic.size()) == magic; };
    if (starts("PK\x03\x04") || starts("PK\x05\x06") || starts("\x80"))
      return open_pytorch(path);  // a zip (or an empty one), or a bare pickle: the legacy format, refused there
    if (ext == ".safetensors" || looks_like_safetensors(path, head)) return open_safetensors(path);
    if (ext == ".bin") return open_llama2c(path);
    return open_safetensors(path);  // its reader says what is wrong with the header
  }

  /// `head` (the first 9 bytes) is a little-endian header length that fits the file, then '{'.
  static bool looks_like_safetensors(const std::filesystem::path& path, std::string_view head) {
    if (head.size() != 9) return false;
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(head[i]);
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    return !ec && n >= 2 && n <= size - 8 && head[8] == '{';
  }

  /// The weights of a PyTorch checkpoint under their state-dict names (Lightning's "state_dict",
  /// Uni-Mol's "model", or a bare dict of tensors; TorchCheckpoint::state_dict's rule). Other tensors
  /// (optimizer moments, ...) are counted in a warning; with no recognisable state dict, every
  /// tensor is listed under its full dotted path.
  static CheckpointReader open_pytorch(const std::filesystem::path& path) {
    auto ck = std::make_shared<TorchCheckpoint>(path);
    CheckpointReader r(CheckpointFormat::pytorch, path);
    const std::string prefix = state_dict_prefix(*ck);
    auto refs = std::make_shared<std::unordered_map<std::string, NamedTensorRef>>();
    std::size_t others = 0;
    std::string first_other;
    for (auto& named : ck->tensor_refs()) {
      if (named.name.compare(0, prefix.size(), prefix) != 0) {
        if (others++ == 0) first_other = named.name;
        continue;
      }
      std::string name = named.name.substr(prefix.size());
      const auto dtype = named.ref->dtype();
      if (!dtype) {
        r.warnings_.push_back(fmt::format("'{}' is a torch.{} tensor, which molm cannot represent: not listed",
                                          detail::printable(name), io::pickle::torch_storage_element(named.ref->storage->type_name)));
        continue;
      }
      r.add(name, *dtype, named.ref->shape);
      refs->emplace(std::move(name), std::move(named));
    }
    if (others)
      r.warnings_.push_back(fmt::format("{} tensor{} outside the state dict '{}' {} not listed (e.g. {})", others,
                                        others == 1 ? "" : "s", prefix.substr(0, prefix.size() - 1),
                                        others == 1 ? "is" : "are",
                                        detail::printable(first_other)));
    for (const auto& cls : ck->placeholders())
      r.warnings_.push_back(fmt::format("pickled object {} was kept as an inert placeholder (never run)", cls));
    r.read_ = [ck, refs](const std::string& name) { return ck->tensor(*refs->at(name).ref, name); };
    return r;
  }

  /// "state_dict." (Lightning) or "model." (Uni-Mol) when the root has that dict; "" otherwise: a
  /// bare state dict, or no recognisable one, where every tensor is listed under its full path.
  static std::string state_dict_prefix(const TorchCheckpoint& ck) {
    using io::pickle::Kind;
    if (ck.root().is(Kind::dict))
      for (const char* key : {"state_dict", "model"}) {
        const auto* v = ck.root().as_dict().find(key);
        if (v && v->is(Kind::dict)) return std::string(key) + ".";
      }
    return "";
  }

  static CheckpointReader open_llama2c(const std::filesystem::path& path) {
    auto model = std::make_shared<Llama2cModel>(load_llama2c(path));
    CheckpointReader r(CheckpointFormat::llama2c, path);
    for (const auto& [name, t] : model->weights) r.add(name, t.dtype(), t.shape());
    if (model->config.shared_classifier)
      r.warnings_.push_back("lm_head.weight is the token embedding (shared classifier): listed under both names");
    r.read_ = [model](const std::string& name) { return *model->weights.find(name); };
    return r;
  }

  static CheckpointReader open_safetensors(const std::filesystem::path& path) {
    auto file = std::make_shared<SafetensorsFile>(path);
    CheckpointReader r(CheckpointFormat::safetensors, path);
    for (const auto& name : file->names()) {
      const SafetensorInfo& in = file->info(name);
      r.add(name, in.dtype, in.shape);
    }
    r.read_ = [file](const std::string& name) { return file->tensor(name); };
    return r;
  }

  /// A sharded checkpoint's index JSON: safetensors shards, or PyTorch `.bin` shards (HF's
  /// pytorch_model.bin.index.json, the layout of 3D-MoLM's llama-2-7b-hf folder). The kind is
  /// taken from the shard file names.
  static CheckpointReader open_index(const std::filesystem::path& path) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    MOLM_CHECK(!ec, "checkpoint", "cannot read {}: {}", path.string(), ec.message());
    MOLM_CHECK(size <= io::detail::kSafetensorsMaxHeader, "checkpoint", "{}: index of {} bytes is implausibly large",
               path.string(), size);
    const nlohmann::json j =
        io::detail::parse_json_strict(head_of(path, static_cast<std::size_t>(size)), path.string(), 0, "checkpoint");
    bool any_bin = false;
    if (j.is_object() && j.contains("weight_map") && j["weight_map"].is_object())
      for (const auto& [name, shard] : j["weight_map"].items())
        if (shard.is_string() && !shard.get_ref<const std::string&>().ends_with(".safetensors")) any_bin = true;
    return any_bin ? open_pytorch_index(path, j) : open_safetensors_index(path);
  }

  /// PyTorch shards behind an index: every listed tensor must be in the shard the index names (a
  /// plain file name beside the index); listed in name order, as a safetensors index is.
  static CheckpointReader open_pytorch_index(const std::filesystem::path& path, const nlohmann::json& j) {
    constexpr const char* C = "checkpoint";
    const std::string where = path.string();
    auto shards = std::make_shared<std::map<std::string, CheckpointReader>>();
    auto shard_of = std::make_shared<std::map<std::string, std::string>>();
    for (const auto& [tname, shard] : j["weight_map"].items()) {
      const std::string n = io::detail::printable(tname);
      const std::string& file = io::detail::index_shard_file(shard, tname, where, C);
      auto it = shards->find(file);
      if (it == shards->end()) {
        try {
          it = shards->emplace(file, open_pytorch(path.parent_path() / file)).first;
        } catch (const error& e) {
          MOLM_THROW(C, "{}: shard '{}' (listed for tensor '{}') cannot be read: {}", where,
                     io::detail::printable(file), n, e.what());
        }
      }
      MOLM_CHECK(it->second.contains(tname), C, "{}: tensor '{}' is mapped to shard '{}', which does not contain it",
                 where, n, io::detail::printable(file));
      shard_of->emplace(tname, file);
    }
    CheckpointReader r(CheckpointFormat::pytorch_index, path);
    for (const auto& [tname, file] : *shard_of) {
      const TensorListing& in = shards->at(file).info(tname);
      r.add(tname, in.dtype, in.shape);
    }
    for (const auto& [file, reader] : *shards)
      for (const auto& w : reader.warnings()) r.warnings_.push_back(file + ": " + w);
    r.read_ = [shards, shard_of](const std::string& name) { return shards->at(shard_of->at(name)).tensor(name); };
    return r;
  }

  static CheckpointReader open_safetensors_index(const std::filesystem::path& path) {
    auto index = std::make_shared<SafetensorsIndex>(path);
    CheckpointReader r(CheckpointFormat::safetensors_index, path);
    for (const auto& name : index->names()) {
      const SafetensorInfo& in = index->info(name);
      r.add(name, in.dtype, in.shape);
    }
    r.read_ = [index](const std::string& name) { return index->tensor(name); };
    return r;
  }

  /// A molm checkpoint directory or a Hugging Face model folder: the weights file inside it.
  static CheckpointReader open_directory(const std::filesystem::path& dir) {
    for (const char* candidate : {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin.index.json",
                                  "pytorch_model.bin"}) {
      const auto p = dir / candidate;
      if (std::filesystem::is_regular_file(p)) {
        CheckpointReader inner = open_file(p);
        inner.format_ = CheckpointFormat::directory;
        inner.path_ = dir;
        return inner;
      }
    }
    MOLM_THROW("checkpoint",
               "{}: folder holds no model.safetensors, model.safetensors.index.json, pytorch_model.bin.index.json "
               "or pytorch_model.bin", dir.string());
  }

  CheckpointFormat format_;
  std::filesystem::path path_;
  std::vector<TensorListing> listing_;
  std::unordered_map<std::string, std::size_t> position_;
  std::vector<std::string> warnings_;
  Reader read_;
};

/// The strict-loading report of a model expecting `expected` that is given `given`: names missing
/// from `given`, names `given` has in excess, shape mismatches, and dtype conversions.
inline nn::LoadReport compare_listings(const std::vector<TensorListing>& expected,
                                       const std::vector<TensorListing>& given) {
  std::unordered_map<std::string, const TensorListing*> by_name;
  for (const auto& g : given) by_name.emplace(g.name, &g);
  std::unordered_map<std::string, bool> wanted;
  nn::LoadReport report;
  for (const auto& e : expected) {
    wanted.emplace(e.name, true);
    const auto it = by_name.find(e.name);
    if (it == by_name.end()) {
      report.missing.push_back(e.name);
    } else if (it->second->shape != e.shape) {
      report.shape_mismatched.push_back({e.name, e.shape, it->second->shape});
    } else if (it->second->dtype != e.dtype) {
      report.converted.push_back({e.name, it->second->dtype, e.dtype});
    }
  }
  for (const auto& g : given)
    if (!wanted.count(g.name)) report.unexpected.push_back(g.name);
  return report;
}

}  // namespace molm::io

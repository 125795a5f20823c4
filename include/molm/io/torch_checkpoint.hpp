// TorchCheckpoint: files written by torch.save in its zip format (PyTorch >= 1.6, the default since):
// `.pt`, Lightning `.ckpt`, Hugging Face `pytorch_model*.bin`, Uni-Mol checkpoints.
//
//   TorchCheckpoint ck("stage1.ckpt");
//   nn::StateDict sd = ck.state_dict();            // Lightning "state_dict", Uni-Mol "model", or a bare state dict
//   for (const auto& [name, ref] : ck.tensor_refs({.skip_optimizer = true}))  // every tensor by dotted
//     fmt::print("{} {}\n", name, ref->shape.str());  // path ("state_dict.encoder.w"), no data read
//   Tensor w = ck.tensor(*ref);                    // a view into the mapped file (no copy)
//   for (const auto& cls : ck.placeholders()) ...  // pickled classes kept inert: worth a warning
//   const io::pickle::Value& everything = ck.root();   // hyper-parameters, epoch, args, ...
//   auto sd2 = load_torch_state_dict("mol_pre_no_h_220816.pt");
//
// Layout (pytorch/pytorch: torch/serialization.py, caffe2/serialize/inline_container.cc): one top
// folder <archive>/ holding data.pkl (the pickled object), data/<key> (one record of raw
// little-endian bytes per storage), byteorder ("little"; absent before PyTorch 1.10), version or
// .data/version. Records are stored uncompressed and 64-byte aligned, so a tensor is a strided view
// of the mapping: shared storages give tensors sharing one Storage object, storage offsets and
// strides (transposed, sliced tensors) are kept. A misaligned or deflated record (other writers)
// is copied into aligned memory instead. Tensors keep the mapping alive after the checkpoint object
// is gone, and the mapping is copy-on-write (see io/mapped_file.hpp).
//
// data.pkl goes through io::pickle, which rebuilds only containers, tensors and numpy values and
// never runs code; unknown classes become inert placeholders (listed by placeholders()), and a
// GLOBAL naming code-running callables rejects the file. Everything is checked when the file is
// opened: each storage's record exists and is large enough, each tensor view lies inside its
// storage, so tensor() cannot read outside the file. Errors name the file, the entry and the byte.
//
// Not read: the legacy format of torch.save(..., _use_new_zipfile_serialization=False) and of
// PyTorch < 1.6 (an error says how to re-save it), TorchScript archives, tensors of element types
// molm lacks (int8, int16, complex, quantised: an error when such a tensor is materialised, so
// listing and loading the other tensors still work).
#pragma once

#include "molm/io/mapped_file.hpp"
#include "molm/io/pickle.hpp"
#include "molm/io/zip.hpp"
#include "molm/nn/state_dict.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace molm {

struct TorchLoadOptions {
  io::pickle::Limits limits;
  std::uint64_t max_pickle_bytes = std::uint64_t{1} << 30;  ///< data.pkl (a 7B checkpoint's is ~100 KB)
  /// A deflated storage record is inflated into memory up to this size (torch never deflates).
  std::uint64_t max_inflated_storage_bytes = std::uint64_t{1} << 36;
};

/// Which tensors tensor_refs()/tensors() list.
struct TensorFilter {
  /// Skip the top-level optimizer and scheduler entries (kOptimizerKeys) without touching them.
  bool skip_optimizer = false;
  /// Also list numpy arrays (converted to new tensors by tensors(); never by tensor_refs()).
  bool include_numpy = false;
};

/// Top-level keys that hold optimizer or scheduler state in Lightning, fairseq/Uni-Core and plain
/// training-loop checkpoints.
inline constexpr std::array<std::string_view, 6> kOptimizerKeys = {
    "optimizer_states", "optimizer", "optimizers", "lr_schedulers", "last_optimizer_state", "optimizer_history"};

/// A tensor of the checkpoint by its dotted path, not yet read.
struct NamedTensorRef {
  std::string name;
  std::shared_ptr<const io::pickle::TensorRef> ref;
};

class TorchCheckpoint {
 public:
  using Value = io::pickle::Value;

  /// Map `path`, read the zip directory and unpickle data.pkl; throws molm::error naming the problem.
  explicit TorchCheckpoint(const std::filesystem::path& path, TorchLoadOptions options = {})
      : TorchCheckpoint(open_zip(path), std::move(options)) {}
  /// A checkpoint held in memory (tests, fuzzing, downloads); `name` is used in messages.
  static TorchCheckpoint from_memory(std::vector<std::byte> bytes, std::string name, TorchLoadOptions options = {}) {
    check_not_legacy(bytes.data(), bytes.size(), name);
    return TorchCheckpoint(io::ZipArchive::from_memory(std::move(bytes), std::move(name)), std::move(options));
  }
  /// A checkpoint in an already opened zip archive.
  explicit TorchCheckpoint(io::ZipArchive zip, TorchLoadOptions options = {})
      : zip_(std::move(zip)), options_(std::move(options)), cache_(std::make_shared<Cache>()) {
    find_layout();
    unpickle();
  }

  /// The file name, for messages.
  const std::string& name() const { return zip_.name(); }
  /// The top folder inside the zip ("archive", or the file's stem for older PyTorch).
  const std::string& archive_name() const { return archive_; }
  /// The serialization format version from `version`/`.data/version` (0 when the file has none).
  int format_version() const { return version_; }
  const io::ZipArchive& zip() const { return zip_; }

  /// The unpickled object: a dict for every checkpoint molm knows; tensors are pickle::TensorRef.
  const Value& root() const { return root_; }
  /// Qualified names of pickled classes and functions kept as inert placeholders (argparse.Namespace, ...).
  const std::vector<std::string>& placeholders() const { return placeholders_; }

  /// Every tensor reachable from the root, with its dotted path: dict keys, list indices and the
  /// attributes of placeholder objects, joined by '.'. Reads no tensor data.
  std::vector<NamedTensorRef> tensor_refs(const TensorFilter& filter = {}) const {
    std::vector<NamedTensorRef> out;
    walk(filter, [&](const std::string& name, const Value& v) {
      if (v.is(io::pickle::Kind::tensor)) out.push_back({name, v.tensor_ptr()});
    });
    return out;
  }
  /// Every tensor (and with include_numpy, numpy array) as a molm tensor, by dotted path.
  std::vector<std::pair<std::string, Tensor>> tensors(const TensorFilter& filter = {}) const {
    std::vector<std::pair<std::string, Tensor>> out;
    walk(filter, [&](const std::string& name, const Value& v) {
      if (v.is(io::pickle::Kind::tensor))
        out.emplace_back(name, tensor(v.as_tensor(), name));
      else if (v.is(io::pickle::Kind::ndarray) && filter.include_numpy)
        out.emplace_back(name, numpy_tensor(v, name));
    });
    return out;
  }

  /// The tensor `ref` describes: a view into the mapped file (an aligned copy where the record is
  /// misaligned or compressed). `name` is only used in messages.
  Tensor tensor(const io::pickle::TensorRef& ref, std::string_view name = "tensor") const {
    const io::pickle::StorageRef& s = *ref.storage;
    MOLM_CHECK(s.dtype.has_value(), "torch", "{}: '{}' is a {} tensor (torch.{}), which molm cannot represent",
               this->name(), io::detail::printable(name), io::pickle::torch_storage_element(s.type_name), s.type_name);
    const DType dtype = *s.dtype;
    std::shared_ptr<Storage> storage = storage_for(s.key);
    if (dtype == DType::boolean) check_bools(s.key, *storage, name);
    return Tensor::from_storage(std::move(storage), dtype, ref.shape, ref.strides, ref.offset);
  }

  /// The model weights as a flat state dict. With no key: Lightning's "state_dict", else Uni-Mol's /
  /// fairseq's "model", else the top-level dict itself when it holds only tensors. Nested dicts are
  /// flattened with '.'. Any value that is not a tensor (a placeholder above all) is an error naming it.
  nn::StateDict state_dict() const {
    const io::pickle::Dict* top = root_.is(io::pickle::Kind::dict) ? &root_.as_dict() : nullptr;
    MOLM_CHECK(top, "torch", "{}: the pickled object is {}, not a dict of tensors", name(), root_.describe());
    for (const char* key : {"state_dict", "model"}) {
      const Value* v = top->find(key);
      if (v && v->is(io::pickle::Kind::dict)) return flatten_state_dict(*v, key);
    }
    bool all_tensors = top->size() > 0;
    for (const auto& [k, v] : top->items)
      all_tensors = all_tensors && (v.is(io::pickle::Kind::tensor) || v.is(io::pickle::Kind::dict));
    if (all_tensors) return flatten_state_dict(root_, "");
    std::vector<std::string> keys;
    for (const auto& [k, v] : top->items) keys.push_back(key_name(k));
    MOLM_THROW("torch",
               "{}: cannot tell which entry holds the weights (no 'state_dict' or 'model' dict; top-level keys: {}); "
               "name it: state_dict(\"key\")",
               name(), fmt::join(keys, ", "));
  }
  /// The state dict under the top-level key `key`.
  nn::StateDict state_dict(std::string_view key) const {
    MOLM_CHECK(root_.is(io::pickle::Kind::dict), "torch", "{}: the pickled object is {}, not a dict", name(),
               root_.describe());
    const Value* v = root_.as_dict().find(key);
    MOLM_CHECK(v, "torch", "{}: no top-level key '{}'", name(), io::detail::printable(key));
    MOLM_CHECK(v->is(io::pickle::Kind::dict), "torch", "{}: '{}' is {}, not a dict of tensors", name(),
               io::detail::printable(key), v->describe());
    return flatten_state_dict(*v, std::string(key));
  }

  /// The name a dict key gets in dotted paths: str as is, ints in decimal, tuples as (a, b).
  static std::string key_name(const Value& k) {
    using io::pickle::Kind;
    switch (k.kind()) {
      case Kind::string:
        return k.as_string();
      case Kind::integer:
        return std::to_string(k.as_int());
      case Kind::boolean:
        return k.as_bool() ? "True" : "False";
      case Kind::none:
        return "None";
      case Kind::real:
        return fmt::format("{}", k.as_float());
      case Kind::sequence: {
        std::vector<std::string> parts;
        for (const auto& x : k.as_sequence().items) parts.push_back(key_name(x));
        return fmt::format("({})", fmt::join(parts, ", "));
      }
      default:
        return "<" + k.describe() + ">";
    }
  }

 private:
  struct Cache {
    std::mutex mu;
    std::map<std::string, std::shared_ptr<Storage>> storages;
    std::set<std::string> bools_checked;
  };

  static io::ZipArchive open_zip(const std::filesystem::path& path) {
    auto file = io::MappedFile::open(path, "torch");
    check_not_legacy(file->data(), file->size(), path.string());
    return io::ZipArchive(std::move(file));
  }

  /// The legacy format is a bare pickle stream starting with torch's magic number (or, before 0.4,
  /// a tar file); say how to convert it instead of failing on the zip.
  static void check_not_legacy(const std::byte* data, std::size_t size, const std::string& where) {
    auto at = [&](std::size_t i) { return i < size ? static_cast<unsigned char>(data[i]) : 0u; };
    if (at(0) == 'P' && at(1) == 'K') return;
    // PROTO n, [FRAME len (protocol >= 4)], LONG1 10 bytes 0x1950a86a20f9469cfc6c little-endian.
    static constexpr unsigned char kMagic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    const std::size_t start = at(2) == 0x95 ? 11 : 2;
    bool magic = at(0) == 0x80 && size >= start + sizeof kMagic;
    for (std::size_t i = 0; magic && i < sizeof kMagic; ++i) magic = at(start + i) == kMagic[i];
    const bool tar = size > 262 && std::memcmp(data + 257, "ustar", 5) == 0;
    MOLM_CHECK(!magic && !tar, "torch",
               "{} is in the legacy (pre-1.6) torch.save format; re-save it with torch.save(obj, path) in PyTorch "
               ">= 1.6 (the default zip format), and only if you trust the file, since torch.load runs the code a "
               "pickle names: python -c \"import torch; torch.save(torch.load('{}', weights_only=True), 'new.pt')\"",
               where, where);
  }

  void find_layout() {
    const std::string& file = zip_.name();
    std::vector<std::string> roots;
    for (const auto& e : zip_.entries()) {
      const auto slash = e.name.find('/');
      if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0)
        roots.push_back(e.name.substr(0, slash));
    }
    MOLM_CHECK(
        !roots.empty(), "torch",
        "{}: no <archive>/data.pkl entry: a zip file, but not one written by torch.save ({} entries{})", file,
        zip_.entries().size(),
        zip_.entries().empty() ? "" : fmt::format(", the first '{}'", io::detail::printable(zip_.entries()[0].name)));
    MOLM_CHECK(roots.size() == 1, "torch", "{}: {} data.pkl entries ('{}/data.pkl', '{}/data.pkl'); expected one", file,
               roots.size(), io::detail::printable(roots[0]), io::detail::printable(roots[1]));
    archive_ = roots[0];
    prefix_ = archive_ + "/";
    if (const io::ZipEntry* e = zip_.find(prefix_ + "byteorder")) {
      const std::string order = zip_.read(*e, 64);
      MOLM_CHECK(order == "little", "torch", "{}: byte order '{}'; molm reads little-endian checkpoints only", file,
                 io::detail::printable(order));
    }
    for (const char* v : {".data/version", "version"}) {
      const io::ZipEntry* e = zip_.find(prefix_ + v);
      if (!e) continue;
      const std::string text = zip_.read(*e, 64);
      int n = 0;
      std::size_t digits = 0;
      for (const char c : text) {
        if (c >= '0' && c <= '9' && digits < 6)
          n = n * 10 + (c - '0'), ++digits;
        else if (c != '\n' && c != '\r' && c != ' ')
          digits = 99;
      }
      MOLM_CHECK(digits >= 1 && digits <= 6, "torch", "{}: '{}{}' holds '{}', not a version number", file, prefix_, v,
                 io::detail::printable(text));
      version_ = n;
      break;
    }
  }

  void unpickle() {
    const io::ZipEntry& pkl = zip_.entry(prefix_ + "data.pkl");
    const std::string bytes = zip_.read(pkl, options_.max_pickle_bytes);
    io::pickle::Options opt;
    opt.source = fmt::format("{}:{}", zip_.name(), pkl.name);
    opt.limits = options_.limits;
    opt.persistent_load = [this](const Value& pid) -> Value {
      auto s = io::pickle::storage_ref(pid);
      const std::string record = prefix_ + "data/" + s->key;
      const io::ZipEntry* e = zip_.find(record);
      MOLM_CHECK(e, "torch", "storage '{}' has no record '{}' in the zip", io::detail::printable(s->key),
                 io::detail::printable(record));
      MOLM_CHECK(e->uncompressed_size >= s->nbytes(), "torch",
                 "storage '{}' ({} x {}) needs {} bytes but its record has {}", io::detail::printable(s->key), s->numel,
                 s->type_name, s->nbytes(), e->uncompressed_size);
      return s;
    };
    io::pickle::Result r = io::pickle::load(bytes, opt);
    root_ = std::move(r.root);
    placeholders_ = std::move(r.placeholders);
  }

  /// The bytes of record data/<key>: one Storage per key, so tensors sharing it share it in molm too.
  std::shared_ptr<Storage> storage_for(const std::string& key) const {
    std::lock_guard<std::mutex> lock(cache_->mu);
    auto& slot = cache_->storages[key];
    if (slot) return slot;
    const io::ZipEntry& e = zip_.entry(prefix_ + "data/" + key);
    if (e.stored() && !e.encrypted) {
      const auto bytes = zip_.stored(e);
      // Kernels dereference typed pointers: 8-byte alignment covers every dtype molm has.
      if (reinterpret_cast<std::uintptr_t>(bytes.data()) % 8 == 0) {
        slot = Storage::wrap(bytes.data(), bytes.size(), kCPU, [keep = zip_.owner()](void*) {});
        return slot;
      }
    }
    zip_.check_size(e, options_.max_inflated_storage_bytes);
    auto copy = Storage::allocate(static_cast<std::size_t>(e.uncompressed_size));
    zip_.read_into(e, static_cast<std::byte*>(copy->data()), options_.max_inflated_storage_bytes);
    slot = std::move(copy);
    return slot;
  }

  /// A C++ bool must be 0 or 1; any other byte would make reading it undefined behaviour.
  void check_bools(const std::string& key, const Storage& s, std::string_view name) const {
    {
      std::lock_guard<std::mutex> lock(cache_->mu);
      if (cache_->bools_checked.count(key)) return;
    }
    const auto* p = static_cast<const unsigned char*>(s.data());
    for (std::size_t i = 0; i < s.nbytes(); ++i)
      MOLM_CHECK(p[i] <= 1, "torch", "{}: bool tensor '{}': byte {} of storage '{}' is {}, not 0 or 1", this->name(),
                 io::detail::printable(name), i, io::detail::printable(key), static_cast<unsigned>(p[i]));
    std::lock_guard<std::mutex> lock(cache_->mu);
    cache_->bools_checked.insert(key);
  }

  Tensor numpy_tensor(const Value& v, const std::string& name) const {
    try {
      return v.as_ndarray().to_tensor();
    } catch (const error& e) {
      MOLM_THROW("torch", "{}: numpy array '{}': {}", this->name(), io::detail::printable(name), e.what());
    }
  }

  /// Depth-first over the root in pickle order, calling `leaf(path, value)` for tensors and numpy
  /// arrays. Depth is bounded by the unpickler; the visit count is bounded here because the memo
  /// lets a small pickle reference one container from many places.
  template <class F>
  void walk(const TensorFilter& filter, F&& leaf) const {
    std::size_t budget = std::size_t{1} << 24;
    std::string path;
    walk_value(root_, path, 0, filter, leaf, budget);
  }
  template <class F>
  void walk_value(const Value& v, std::string& path, int depth, const TensorFilter& filter, F& leaf,
                  std::size_t& budget) const {
    using io::pickle::Kind;
    MOLM_CHECK(budget-- > 0, "torch", "{}: the pickle's containers are shared so often that listing them would not end",
               name());
    auto child = [&](const std::string& key, const Value& c) {
      const std::size_t mark = path.size();
      if (!path.empty()) path += '.';
      path += key;
      walk_value(c, path, depth + 1, filter, leaf, budget);
      path.resize(mark);
    };
    switch (v.kind()) {
      case Kind::tensor:
      case Kind::ndarray:
        leaf(path, v);
        break;
      case Kind::dict:
        for (const auto& [k, c] : v.as_dict().items) {
          const std::string key = key_name(k);
          if (depth == 0 && filter.skip_optimizer &&
              std::find(kOptimizerKeys.begin(), kOptimizerKeys.end(), key) != kOptimizerKeys.end())
            continue;
          child(key, c);
        }
        break;
      case Kind::sequence: {
        const auto& items = v.as_sequence().items;
        for (std::size_t i = 0; i < items.size(); ++i) child(std::to_string(i), items[i]);
        break;
      }
      case Kind::object: {  // a placeholder is transparent: its attributes and items, by name
        const io::pickle::Object& o = v.as_object();
        if (o.state.is(Kind::dict)) {
          for (const auto& [k, c] : o.state.as_dict().items) child(key_name(k), c);
        } else if (!o.state.is_none()) {
          child("state", o.state);
        }
        for (const auto& [k, c] : o.items.items) child(key_name(k), c);
        for (std::size_t i = 0; i < o.elements.size(); ++i) child(std::to_string(i), o.elements[i]);
        break;
      }
      default:
        break;
    }
  }

  nn::StateDict flatten_state_dict(const Value& d, const std::string& where) const {
    nn::StateDict out;
    std::string path;
    std::size_t budget = std::size_t{1} << 24;
    flatten_into(out, d, path, where, budget);
    return out;
  }
  void flatten_into(nn::StateDict& out, const Value& d, std::string& path, const std::string& where,
                    std::size_t& budget) const {
    using io::pickle::Kind;
    for (const auto& [k, v] : d.as_dict().items) {
      MOLM_CHECK(budget-- > 0, "torch", "{}: the state dict's dicts are shared so often that flattening would not end",
                 name());
      const std::size_t mark = path.size();
      if (!path.empty()) path += '.';
      path += key_name(k);
      const std::string shown = where.empty() ? path : where + "." + path;
      if (v.is(Kind::tensor)) {
        MOLM_CHECK(!out.contains(path), "torch", "{}: tensor name '{}' appears twice", name(),
                   io::detail::printable(shown));
        out.insert(path, tensor(v.as_tensor(), shown));
      } else if (v.is(Kind::dict)) {
        flatten_into(out, v, path, where, budget);
      } else if (v.is_placeholder()) {
        MOLM_THROW("torch",
                   "{}: '{}' is a {} where a tensor is needed (the file pickles an object molm does not rebuild)",
                   name(), io::detail::printable(shown), v.describe());
      } else {
        MOLM_THROW("torch", "{}: '{}' is {}, not a tensor", name(), io::detail::printable(shown), v.describe());
      }
      path.resize(mark);
    }
  }

  io::ZipArchive zip_;
  TorchLoadOptions options_;
  std::string archive_;
  std::string prefix_;
  int version_ = 0;
  Value root_;
  std::vector<std::string> placeholders_;
  std::shared_ptr<Cache> cache_;  // shared by copies, like the mapping
};

/// The weights of a torch.save checkpoint (see TorchCheckpoint::state_dict): with an empty `key`
/// Lightning's "state_dict", Uni-Mol's "model" or the bare state dict; else the top-level entry `key`.
inline nn::StateDict load_torch_state_dict(const std::filesystem::path& path, std::string_view key = {},
                                           TorchLoadOptions options = {}) {
  const TorchCheckpoint ck(path, std::move(options));
  return key.empty() ? ck.state_dict() : ck.state_dict(key);
}

}  // namespace molm

// A restricted unpickler: Python pickles (protocols 2–5) read as data, never as code.
//
//   pickle::Options opt;
//   opt.source = "model.pt:model/data.pkl";                       // names the bytes in errors
//   opt.persistent_load = [](const pickle::Value& pid) { ... };   // torch storages (torch_checkpoint.hpp)
//   pickle::Result r = pickle::load(bytes, opt);
//   const pickle::Dict& top = r.root.as_dict();                   // containers are shared (memo) objects
//   if (const pickle::Value* sd = top.find("state_dict")) ...
//
// Python's pickle is a small stack machine whose GLOBAL + REDUCE opcodes import and call anything;
// that is how a pickle runs code. This machine imports nothing and calls nothing. It knows a fixed
// set of callables and rebuilds their results itself:
//   containers   collections.OrderedDict, dict, list, set, frozenset, bytes, bytearray, _codecs.encode
//   torch        torch._utils._rebuild_tensor(_v2), _rebuild_parameter(_with_state),
//                torch._tensor._rebuild_from_type_v2, torch.*Storage: a TensorRef (storage + geometry,
//                checked to lie inside the storage); persistent ids go to Options::persistent_load
//   numpy        numpy(._)core.multiarray._reconstruct / scalar, numpy.dtype, numpy(._)core.numeric._frombuffer:
//                NdArray values and plain numbers (numpy.float64(0.5) becomes 0.5)
// Any other GLOBAL becomes an inert placeholder: REDUCE/NEWOBJ on it give an Object holding the
// class name, arguments and (after BUILD / SETITEMS / APPENDS) its state; Result::placeholders
// lists every such name once. This is what real checkpoints need: argparse.Namespace under `args`
// (Uni-Mol), Lightning's AttributeDict under `hyper_parameters`. A GLOBAL that names a code-running
// callable (os, posix, subprocess, sys, importlib, pickle, shutil, builtins.eval/exec/getattr/...,
// see dangerous_global) rejects the whole pickle: no genuine checkpoint contains one.
//
// Hostile input yields molm::error naming the source, the opcode and its byte offset, never a
// crash: every read is bounds-checked, and the stack, memo, total container items and nesting
// depth are capped (Limits). Recursive structures (a list that contains itself) are rejected. The
// machine itself never recurses; containers nest at most Limits::max_depth deep, so code walking a
// Result recursively is safe.
//
// Opcodes read: PROTO FRAME STOP MARK POP POP_MARK DUP NONE NEWTRUE NEWFALSE BININT BININT1 BININT2
// LONG1 LONG4 BINFLOAT BINUNICODE SHORT_BINUNICODE BINUNICODE8 BINBYTES SHORT_BINBYTES BINBYTES8
// BYTEARRAY8 BINSTRING SHORT_BINSTRING EMPTY_DICT DICT EMPTY_LIST LIST EMPTY_TUPLE TUPLE TUPLE1-3
// EMPTY_SET ADDITEMS FROZENSET APPEND APPENDS SETITEM SETITEMS GLOBAL STACK_GLOBAL REDUCE BUILD
// NEWOBJ NEWOBJ_EX BINPERSID PUT BINPUT LONG_BINPUT MEMOIZE GET BINGET LONG_BINGET. Others (the
// text opcodes of protocols 0–1, EXT*, out-of-band buffers) are reported as unsupported.
#pragma once

#include "molm/core/dtype.hpp"
#include "molm/core/error.hpp"
#include "molm/core/shape.hpp"
#include "molm/core/utf8.hpp"
#include "molm/io/safetensors_header.hpp"  // io::detail::printable
#include "molm/tensor/tensor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace molm::io::pickle {

struct Sequence;
struct Dict;
struct Object;
struct Global;
struct StorageRef;
struct TensorRef;
struct NdArray;
struct NumpyDType;

/// What a Value holds. `sequence` covers list, tuple, set and frozenset (Sequence::type says which).
enum class Kind : std::uint8_t {
  none,
  boolean,
  integer,
  real,
  string,
  bytes,
  sequence,
  dict,
  global,
  object,
  tensor,
  storage,
  ndarray,
  numpy_dtype
};

/// One unpickled value. Copying a Value copies a reference: containers are shared, as in Python
/// (the memo hands the same list to several places).
class Value {
 public:
  Value() = default;  ///< None
  explicit Value(bool b) : v_(b) {}
  explicit Value(std::int64_t i) : v_(i) {}
  explicit Value(double d) : v_(d) {}
  Value(std::shared_ptr<Sequence> p) : v_(std::move(p)) {}          // NOLINT(google-explicit-constructor)
  Value(std::shared_ptr<Dict> p) : v_(std::move(p)) {}              // NOLINT
  Value(std::shared_ptr<const Global> p) : v_(std::move(p)) {}      // NOLINT
  Value(std::shared_ptr<Object> p) : v_(std::move(p)) {}            // NOLINT
  Value(std::shared_ptr<const TensorRef> p) : v_(std::move(p)) {}   // NOLINT
  Value(std::shared_ptr<const StorageRef> p) : v_(std::move(p)) {}  // NOLINT
  Value(std::shared_ptr<NdArray> p) : v_(std::move(p)) {}           // NOLINT
  Value(std::shared_ptr<NumpyDType> p) : v_(std::move(p)) {}        // NOLINT
  static Value string(std::string s) { return Value(Text{std::make_shared<const std::string>(std::move(s))}); }
  static Value bytes(std::string s) { return Value(Blob{std::make_shared<const std::string>(std::move(s))}); }

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is(Kind k) const { return kind() == k; }
  bool is_none() const { return is(Kind::none); }
  /// A placeholder for an object of a class molm does not rebuild.
  bool is_placeholder() const { return is(Kind::object); }

  bool as_bool() const { return get<bool>("a bool"); }
  std::int64_t as_int() const { return get<std::int64_t>("an int"); }
  /// A float, or an int converted to one.
  double as_float() const { return is(Kind::integer) ? static_cast<double>(as_int()) : get<double>("a float"); }
  const std::string& as_string() const { return *get<Text>("a str").s; }
  const std::string& as_bytes() const { return *get<Blob>("bytes").s; }
  Sequence& as_sequence() const { return *get<std::shared_ptr<Sequence>>("a list or tuple"); }
  Dict& as_dict() const { return *get<std::shared_ptr<Dict>>("a dict"); }
  const Global& as_global() const { return *get<std::shared_ptr<const Global>>("a global"); }
  Object& as_object() const { return *get<std::shared_ptr<Object>>("an object"); }
  const TensorRef& as_tensor() const { return *get<std::shared_ptr<const TensorRef>>("a tensor"); }
  const std::shared_ptr<const TensorRef>& tensor_ptr() const {
    return get<std::shared_ptr<const TensorRef>>("a tensor");
  }
  const StorageRef& as_storage() const { return *storage_ptr(); }
  const std::shared_ptr<const StorageRef>& storage_ptr() const {
    return get<std::shared_ptr<const StorageRef>>("a storage");
  }
  NdArray& as_ndarray() const { return *get<std::shared_ptr<NdArray>>("a numpy array"); }
  NumpyDType& as_numpy_dtype() const { return *get<std::shared_ptr<NumpyDType>>("a numpy dtype"); }
  /// The shared string of a str or bytes value (no copy).
  const std::shared_ptr<const std::string>& shared_text() const {
    if (is(Kind::bytes)) return std::get<Blob>(v_).s;
    return get<Text>("a str or bytes").s;
  }

  /// The address of the shared object (containers, tensors, ...); null for plain values.
  const void* identity() const;
  /// A short description for messages: "dict (3 items)", "placeholder for argparse.Namespace", ...
  std::string describe() const;

 private:
  struct Text {
    std::shared_ptr<const std::string> s;
  };
  struct Blob {
    std::shared_ptr<const std::string> s;
  };
  explicit Value(Text t) : v_(std::move(t)) {}
  explicit Value(Blob b) : v_(std::move(b)) {}
  template <class T>
  const T& get(const char* want) const {
    if (const T* p = std::get_if<T>(&v_)) return *p;
    MOLM_THROW("pickle", "expected {}, found {}", want, describe());
  }
  // Order matches Kind.
  std::variant<std::monostate, bool, std::int64_t, double, Text, Blob, std::shared_ptr<Sequence>, std::shared_ptr<Dict>,
               std::shared_ptr<const Global>, std::shared_ptr<Object>, std::shared_ptr<const TensorRef>,
               std::shared_ptr<const StorageRef>, std::shared_ptr<NdArray>, std::shared_ptr<NumpyDType>>
      v_;
};

/// list, tuple, set or frozenset.
struct Sequence {
  enum class Type : std::uint8_t { list, tuple, set, frozenset };
  Type type = Type::list;
  std::vector<Value> items;
  std::size_t size() const { return items.size(); }
  const Value& operator[](std::size_t i) const { return items[i]; }
  static const char* type_name(Type t) {
    constexpr const char* kNames[] = {"list", "tuple", "set", "frozenset"};
    return kNames[static_cast<int>(t)];
  }
};

/// A dict or OrderedDict: insertion order kept, keys of any kind (str, int, tuple, ... as in Python).
struct Dict {
  std::vector<std::pair<Value, Value>> items;
  /// BUILD state (an OrderedDict's instance __dict__, e.g. a state_dict's `_metadata`), else None.
  Value state;

  std::size_t size() const { return items.size(); }
  /// The value under the str key `key`, or nullptr.
  const Value* find(std::string_view key) const {
    std::string k;
    k.reserve(key.size() + 1);
    k += 's';
    k += key;
    const auto it = index_.find(k);
    return it == index_.end() ? nullptr : &items[it->second].second;
  }
  /// d[key] = value, as Python: an equal key keeps its place and gets the new value.
  void set(Value key, Value value) {
    std::string k = key_of(key, 0);
    if (const auto it = index_.find(k); it != index_.end()) {
      items[it->second].second = std::move(value);
      return;
    }
    index_.emplace(std::move(k), items.size());
    items.emplace_back(std::move(key), std::move(value));
  }
  void clear() {
    items.clear();
    index_.clear();
    state = Value();
  }

 private:
  /// A string equal for keys Python considers equal (1 == 1.0 == True); unhashable or very large
  /// keys compare by identity, which keeps hostile input linear.
  static std::string key_of(const Value& v, int depth);
  std::unordered_map<std::string, std::size_t> index_;
};

/// What a GLOBAL opcode names. `fn` says which rebuild molm performs for it; `placeholder` ones
/// are never called: REDUCE/NEWOBJ on them make an Object.
struct Global {
  enum class Fn : std::uint8_t {
    placeholder,
    ordered_dict,
    dict,
    list,
    set,
    frozenset,
    bytes,
    bytearray,
    codecs_encode,
    rebuild_tensor,
    rebuild_tensor_v2,
    rebuild_parameter,
    rebuild_parameter_with_state,
    rebuild_from_type_v2,
    tensor_type,
    storage_type,
    numpy_reconstruct,
    numpy_frombuffer,
    numpy_ndarray,
    numpy_dtype,
    numpy_scalar
  };
  std::string module;
  std::string name;
  Fn fn = Fn::placeholder;
  std::string qualified() const { return module + "." + name; }
};

/// An inert stand-in for an object of a class molm does not rebuild (argparse.Namespace, ...).
struct Object {
  std::string class_name;       ///< "argparse.Namespace"
  Value args;                   ///< the tuple given to REDUCE / NEWOBJ
  Value kwargs;                 ///< NEWOBJ_EX keyword arguments, else None
  Value state;                  ///< BUILD state (usually the instance __dict__), else None
  Dict items;                   ///< SETITEMS on it (dict subclasses: Lightning's AttributeDict)
  std::vector<Value> elements;  ///< APPENDS / ADDITEMS on it (list and set subclasses)
};

/// A torch storage named by a persistent id ('storage', torch.FloatStorage, key, location, numel).
struct StorageRef {
  std::string key;             ///< the record name under <archive>/data/
  std::string type_name;       ///< "FloatStorage", "BFloat16Storage", "UntypedStorage", ...
  std::optional<DType> dtype;  ///< empty for element types molm lacks (int8, int16, complex, quantised)
  std::size_t itemsize = 1;
  std::int64_t numel = 0;  ///< elements of itemsize bytes
  std::string location;    ///< "cpu", "cuda:0" (ignored: molm loads to the CPU)
  std::uint64_t nbytes() const { return static_cast<std::uint64_t>(numel) * itemsize; }  // checked when made
};

/// A torch tensor described, not yet read: a view (offset, shape, strides, in elements) of a storage.
/// Made only through _rebuild_tensor*, which checks that every element lies inside the storage.
struct TensorRef {
  std::shared_ptr<const StorageRef> storage;
  std::int64_t offset = 0;
  Shape shape;
  Shape strides;
  bool requires_grad = false;
  bool parameter = false;  ///< rebuilt through _rebuild_parameter (an nn.Parameter)
  std::optional<DType> dtype() const { return storage->dtype; }
  std::int64_t numel() const { return shape.numel(); }
};

/// A numpy dtype as pickled: its code ("f8", "i4", "b1", "O", ...) and byte order ('<', '>', '|', '=').
struct NumpyDType {
  std::string code;
  char byteorder = '=';
  char kind() const { return code.empty() ? '?' : code[0]; }
  /// Bytes per element from the code ("f8" → 8); 0 when the code has no plain size ("O", "U", "M8[ns]").
  std::size_t itemsize() const {
    if (code.size() < 2 || code.size() > 3) return code == "O" ? 8 : 0;
    std::size_t n = 0;
    for (std::size_t i = 1; i < code.size(); ++i) {
      if (code[i] < '0' || code[i] > '9') return 0;
      n = n * 10 + static_cast<std::size_t>(code[i] - '0');
    }
    return kind() == 'O' ? 0 : n;
  }
  bool big_endian() const { return byteorder == '>'; }
  /// The molm dtype for this numpy dtype, if there is one (f8 f4 f2 i8 i4 u1 b1).
  std::optional<DType> molm_dtype() const {
    const char k = kind();
    const std::size_t n = itemsize();
    if (k == 'f' && n == 8) return DType::f64;
    if (k == 'f' && n == 4) return DType::f32;
    if (k == 'f' && n == 2) return DType::f16;
    if (k == 'i' && n == 8) return DType::i64;
    if (k == 'i' && n == 4) return DType::i32;
    if (k == 'u' && n == 1) return DType::u8;
    if (k == 'b' && n == 1) return DType::boolean;
    return std::nullopt;
  }
  std::string str() const { return std::string(byteorder == '=' ? "" : std::string(1, byteorder)) + code; }
};

/// A numpy array (numpy.ndarray or the result of _frombuffer), with its raw bytes.
struct NdArray {
  NumpyDType dtype;
  std::vector<std::int64_t> shape;
  bool fortran_order = false;
  std::shared_ptr<const std::string> data;  ///< numel × itemsize bytes; null for an object array
  bool object_array = false;                ///< dtype 'O': elements are Python objects (in `objects`)
  std::vector<Value> objects;
  bool built = false;  ///< BUILD has supplied shape, dtype and data

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (const auto d : shape) n *= d;  // validated when built: no overflow
    return n;
  }
  /// A new contiguous molm tensor with the same values; throws for dtypes molm lacks, big-endian
  /// data and object arrays.
  Tensor to_tensor() const {
    MOLM_CHECK(built && !object_array && data, "pickle", "numpy array of dtype {} holds Python objects, not numbers",
               dtype.str());
    const auto dt = dtype.molm_dtype();
    MOLM_CHECK(dt.has_value(), "pickle", "numpy dtype {} has no molm dtype (supported: f8 f4 f2 i8 i4 u1 b1)",
               dtype.str());
    MOLM_CHECK(!dtype.big_endian() || itemsize(*dt) == 1, "pickle", "numpy array is big-endian ({})", dtype.str());
    if (*dt == DType::boolean)  // a C++ bool must be 0 or 1
      for (const char c : *data)
        MOLM_CHECK(static_cast<unsigned char>(c) <= 1, "pickle", "numpy bool array holds the byte {}",
                   static_cast<unsigned char>(c));
    Shape s(shape);
    Tensor t = Tensor::empty(s, *dt);
    if (fortran_order && s.size() > 1) {  // column-major: view the bytes with reversed strides, then copy
      Shape strides;
      std::int64_t st = 1;
      for (int i = 0; i < s.size(); ++i) {
        strides.push_back(st);
        st *= s[i];
      }
      auto raw = Storage::allocate(data->size());
      if (!data->empty()) std::memcpy(raw->data(), data->data(), data->size());
      const Tensor f = Tensor::from_storage(raw, *dt, s, strides, 0);
      t.copy_(f);
    } else if (!data->empty()) {
      std::memcpy(t.raw_data(), data->data(), data->size());
    }
    return t;
  }
};

struct Limits {
  /// Container nesting. Code that walks a Result recursively (TorchCheckpoint does) relies on it:
  /// keep it in the hundreds.
  std::size_t max_depth = 200;
  std::size_t max_stack = std::size_t{1} << 22;
  std::size_t max_memo = std::size_t{1} << 22;
  std::size_t max_items = std::size_t{1} << 24;  ///< container elements, all containers together
};

struct Options {
  std::string source = "pickle";  ///< names the bytes in error messages ("model.pt:model/data.pkl")
  Limits limits;
  /// BINPERSID: turn a persistent id into a value (torch: a StorageRef, see storage_ref()). Unset:
  /// a persistent id is an error.
  std::function<Value(const Value& pid)> persistent_load;
};

struct Result {
  Value root;
  /// Qualified names of the globals that became placeholders, each once, in order of appearance.
  std::vector<std::string> placeholders;
};

/// Why GLOBAL module.name would run code, or nullptr when it is harmless. Rejected: modules that
/// run programs, touch files or import code (os, posix, nt, subprocess, sys, importlib, pickle,
/// shutil, socket, ctypes, runpy, marshal, types, io, operator, ...) wherever they appear in the
/// dotted name; any builtin other than plain types (so eval, exec, compile, open, __import__,
/// getattr, setattr, ...); and names like eval/exec/system/popen/load/__reduce__ anywhere.
inline const char* dangerous_global(std::string_view module, std::string_view name) {
  // Modules refused as the top-level module of a GLOBAL.
  static const std::unordered_set<std::string_view> kModules = {"os",
                                                                "posix",
                                                                "nt",
                                                                "subprocess",
                                                                "sys",
                                                                "importlib",
                                                                "pickle",
                                                                "_pickle",
                                                                "cPickle",
                                                                "dill",
                                                                "cloudpickle",
                                                                "joblib",
                                                                "shutil",
                                                                "socket",
                                                                "ctypes",
                                                                "_ctypes",
                                                                "cffi",
                                                                "runpy",
                                                                "code",
                                                                "codeop",
                                                                "pty",
                                                                "marshal",
                                                                "types",
                                                                "multiprocessing",
                                                                "_posixsubprocess",
                                                                "webbrowser",
                                                                "pdb",
                                                                "bdb",
                                                                "timeit",
                                                                "platform",
                                                                "commands",
                                                                "popen2",
                                                                "signal",
                                                                "io",
                                                                "_io",
                                                                "asyncio",
                                                                "operator",
                                                                "_operator",
                                                                "inspect",
                                                                "threading",
                                                                "_thread",
                                                                "tempfile",
                                                                "pkgutil",
                                                                "zipimport",
                                                                "site",
                                                                "distutils",
                                                                "setuptools",
                                                                "pip",
                                                                "urllib",
                                                                "urllib2",
                                                                "http",
                                                                "httplib",
                                                                "ftplib",
                                                                "smtplib",
                                                                "telnetlib",
                                                                "socketserver",
                                                                "xmlrpc",
                                                                "gc",
                                                                "__builtins__",
                                                                "posixpath",
                                                                "ntpath",
                                                                "fcntl",
                                                                "resource",
                                                                "mmap",
                                                                "imp",
                                                                "nturl2path"};
  // Modules that other modules re-export as attributes (torch.os, numpy.sys): refused anywhere in the name.
  static const std::unordered_set<std::string_view> kReexported = {
      "os",      "posix",    "nt",          "subprocess",   "sys",       "importlib",
      "pickle",  "_pickle",  "shutil",      "socket",       "ctypes",    "runpy",
      "marshal", "builtins", "__builtin__", "__builtins__", "ctypeslib", "_posixsubprocess"};
  static const std::unordered_set<std::string_view> kNames = {"eval",        "exec",          "execfile",
                                                              "compile",     "__import__",    "getattr",
                                                              "setattr",     "delattr",       "globals",
                                                              "locals",      "vars",          "open",
                                                              "system",      "popen",         "load",
                                                              "loads",       "unsafe_load",   "full_load",
                                                              "__reduce__",  "__reduce_ex__", "__getattribute__",
                                                              "__getattr__", "__setattr__",   "__subclasses__",
                                                              "__globals__", "__builtins__",  "__code__",
                                                              "__call__",    "breakpoint",    "input",
                                                              "apply",       "exit",          "quit"};
  static const std::unordered_set<std::string_view> kSafeBuiltins = {
      "set",  "frozenset", "list",  "dict",  "tuple",  "bytes", "bytearray", "int",      "float",         "complex",
      "bool", "str",       "slice", "range", "object", "type",  "NoneType",  "Ellipsis", "NotImplemented"};
  std::vector<std::string_view> parts;
  for (std::string_view s : {module, name}) {
    while (true) {
      const auto dot = s.find('.');
      parts.push_back(s.substr(0, dot));
      if (dot == std::string_view::npos) break;
      s.remove_prefix(dot + 1);
    }
  }
  if (parts[0] == "builtins" || parts[0] == "__builtin__") {
    if (parts.size() != 2 || !kSafeBuiltins.count(parts[1])) return "a Python builtin other than a plain type";
    return nullptr;
  }
  if (kModules.count(parts[0])) return "a module that runs programs, touches files or imports code";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0 && kReexported.count(parts[i])) return "a module that runs programs, touches files or imports code";
    if (kNames.count(parts[i])) return "a function that runs or imports code, or opens files";
  }
  return nullptr;
}

/// The torch storage class `name` ("FloatStorage"): its molm dtype (if any) and element size.
/// False when `name` is no storage class.
inline bool torch_storage_type(std::string_view name, std::optional<DType>& dtype, std::size_t& itemsize) {
  struct Row {
    std::string_view name;
    std::optional<DType> dtype;
    std::size_t itemsize;
  };
  static const Row kRows[] = {{"FloatStorage", DType::f32, 4},
                              {"DoubleStorage", DType::f64, 8},
                              {"HalfStorage", DType::f16, 2},
                              {"BFloat16Storage", DType::bf16, 2},
                              {"LongStorage", DType::i64, 8},
                              {"IntStorage", DType::i32, 4},
                              {"ByteStorage", DType::u8, 1},
                              {"BoolStorage", DType::boolean, 1},
                              {"UntypedStorage", DType::u8, 1},
                              {"CharStorage", std::nullopt, 1},
                              {"ShortStorage", std::nullopt, 2},
                              {"ComplexFloatStorage", std::nullopt, 8},
                              {"ComplexDoubleStorage", std::nullopt, 16},
                              {"QInt8Storage", std::nullopt, 1},
                              {"QUInt8Storage", std::nullopt, 1},
                              {"QInt32Storage", std::nullopt, 4},
                              {"QUInt4x2Storage", std::nullopt, 1},
                              {"QUInt2x4Storage", std::nullopt, 1}};
  for (const auto& r : kRows) {
    if (r.name == name) {
      dtype = r.dtype;
      itemsize = r.itemsize;
      return true;
    }
  }
  return false;
}

/// The torch element type a storage class stands for, for messages ("int8" for CharStorage).
inline std::string_view torch_storage_element(std::string_view type_name) {
  if (type_name == "CharStorage") return "int8";
  if (type_name == "ShortStorage") return "int16";
  if (type_name == "ComplexFloatStorage") return "complex64";
  if (type_name == "ComplexDoubleStorage") return "complex128";
  if (type_name.substr(0, 1) == "Q") return "quantized";
  return type_name;
}

/// Parse torch's persistent id ('storage', <storage class>, key, location, numel) into a StorageRef.
inline std::shared_ptr<const StorageRef> storage_ref(const Value& pid) {
  MOLM_CHECK(pid.is(Kind::sequence) && pid.as_sequence().type == Sequence::Type::tuple && pid.as_sequence().size() == 5,
             "pickle", "persistent id is {}, not torch's ('storage', type, key, location, numel)", pid.describe());
  const Sequence& t = pid.as_sequence();
  MOLM_CHECK(t[0].is(Kind::string) && t[0].as_string() == "storage", "pickle",
             "persistent id starts with {}, not 'storage'", t[0].describe());
  MOLM_CHECK(t[1].is(Kind::global) && t[1].as_global().fn == Global::Fn::storage_type, "pickle",
             "persistent id names {} where a torch storage class belongs", t[1].describe());
  MOLM_CHECK(t[2].is(Kind::string) && t[3].is(Kind::string) && t[4].is(Kind::integer), "pickle",
             "persistent id ({}, {}, {}) is not (key: str, location: str, numel: int)", t[2].describe(),
             t[3].describe(), t[4].describe());
  auto s = std::make_shared<StorageRef>();
  s->key = t[2].as_string();
  s->type_name = t[1].as_global().name;
  torch_storage_type(s->type_name, s->dtype, s->itemsize);
  s->location = t[3].as_string();
  s->numel = t[4].as_int();
  std::uint64_t bytes = 0;
  MOLM_CHECK(s->numel >= 0 && !__builtin_mul_overflow(static_cast<std::uint64_t>(s->numel), s->itemsize, &bytes),
             "pickle", "storage '{}' has an impossible element count {}", io::detail::printable(s->key), s->numel);
  return s;
}

// ---- Value and Dict members that need the complete types -----------------------------------------

inline const void* Value::identity() const {
  return std::visit(
      [](const auto& x) -> const void* {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Text> || std::is_same_v<T, Blob>)
          return x.s.get();
        else if constexpr (std::is_same_v<T, std::monostate> || std::is_same_v<T, bool> ||
                           std::is_same_v<T, std::int64_t> || std::is_same_v<T, double>)
          return nullptr;
        else
          return x.get();
      },
      v_);
}

inline std::string Value::describe() const {
  switch (kind()) {
    case Kind::none:
      return "None";
    case Kind::boolean:
      return as_bool() ? "True" : "False";
    case Kind::integer:
      return fmt::format("int {}", as_int());
    case Kind::real:
      return fmt::format("float {}", std::get<double>(v_));
    case Kind::string:
      return fmt::format("str '{}'", io::detail::printable(as_string().substr(0, 60)));
    case Kind::bytes:
      return fmt::format("bytes ({} bytes)", as_bytes().size());
    case Kind::sequence: {
      const Sequence& s = as_sequence();
      return fmt::format("{} ({} items)", Sequence::type_name(s.type), s.size());
    }
    case Kind::dict:
      return fmt::format("dict ({} items)", as_dict().size());
    case Kind::global:
      return fmt::format("global {}", io::detail::printable(as_global().qualified()));
    case Kind::object:
      return fmt::format("placeholder for {}", io::detail::printable(as_object().class_name));
    case Kind::tensor: {
      const TensorRef& t = as_tensor();
      const auto dt = t.dtype();
      return fmt::format("tensor {} {}",
                         dt ? std::string(name(*dt)) : std::string(torch_storage_element(t.storage->type_name)),
                         t.shape.str());
    }
    case Kind::storage:
      return fmt::format("storage {} '{}'", as_storage().type_name, io::detail::printable(as_storage().key));
    case Kind::ndarray: {
      const NdArray& a = as_ndarray();
      return fmt::format("numpy array {} {}", a.dtype.str(), Shape(a.shape).str());
    }
    case Kind::numpy_dtype:
      return fmt::format("numpy dtype {}", as_numpy_dtype().str());
  }
  return "?";
}

inline std::string Dict::key_of(const Value& v, int depth) {
  switch (v.kind()) {
    case Kind::none:
      return "N";
    case Kind::boolean:
      return fmt::format("i{}", v.as_bool() ? 1 : 0);
    case Kind::integer:
      return fmt::format("i{}", v.as_int());
    case Kind::real: {
      const double d = v.as_float();
      if (d > -9.2e18 && d < 9.2e18 && d == static_cast<double>(static_cast<std::int64_t>(d)))  // range first: no UB
        return fmt::format("i{}", static_cast<std::int64_t>(d));
      std::uint64_t bits;
      std::memcpy(&bits, &d, 8);
      return fmt::format("f{:x}", bits);
    }
    case Kind::string:
    case Kind::bytes: {
      const std::string& s = *v.shared_text();
      const char tag = v.is(Kind::string) ? 's' : 'b';
      if (s.size() <= 256) return tag + s;
      return fmt::format("{}@{}", static_cast<char>(tag - 32), v.identity());  // 'S@', 'B@': long strings by identity
    }
    case Kind::global:
      return "g" + v.as_global().qualified();
    case Kind::sequence: {
      const Sequence& s = v.as_sequence();
      if (s.type == Sequence::Type::tuple && depth < 8 && s.size() <= 16) {
        std::string k = "t(";
        for (const auto& x : s.items) {
          const std::string e = key_of(x, depth + 1);
          k += fmt::format("{}:{}", e.size(), e);
        }
        if (k.size() <= 1024) return k + ")";
      }
      break;
    }
    default:
      break;
  }
  return fmt::format("@{}", v.identity());
}

// ---- the machine -----------------------------------------------------------------------------------

namespace detail {

inline const char* opcode_name(std::uint8_t op) {
  switch (op) {
    case 0x28:
      return "MARK";
    case 0x2e:
      return "STOP";
    case 0x30:
      return "POP";
    case 0x31:
      return "POP_MARK";
    case 0x32:
      return "DUP";
    case 0x42:
      return "BINBYTES";
    case 0x43:
      return "SHORT_BINBYTES";
    case 0x47:
      return "BINFLOAT";
    case 0x4a:
      return "BININT";
    case 0x4b:
      return "BININT1";
    case 0x4d:
      return "BININT2";
    case 0x4e:
      return "NONE";
    case 0x51:
      return "BINPERSID";
    case 0x52:
      return "REDUCE";
    case 0x54:
      return "BINSTRING";
    case 0x55:
      return "SHORT_BINSTRING";
    case 0x58:
      return "BINUNICODE";
    case 0x5d:
      return "EMPTY_LIST";
    case 0x61:
      return "APPEND";
    case 0x62:
      return "BUILD";
    case 0x63:
      return "GLOBAL";
    case 0x64:
      return "DICT";
    case 0x65:
      return "APPENDS";
    case 0x67:
      return "GET";
    case 0x68:
      return "BINGET";
    case 0x6a:
      return "LONG_BINGET";
    case 0x6c:
      return "LIST";
    case 0x70:
      return "PUT";
    case 0x71:
      return "BINPUT";
    case 0x72:
      return "LONG_BINPUT";
    case 0x73:
      return "SETITEM";
    case 0x74:
      return "TUPLE";
    case 0x75:
      return "SETITEMS";
    case 0x7d:
      return "EMPTY_DICT";
    case 0x29:
      return "EMPTY_TUPLE";
    case 0x80:
      return "PROTO";
    case 0x81:
      return "NEWOBJ";
    case 0x85:
      return "TUPLE1";
    case 0x86:
      return "TUPLE2";
    case 0x87:
      return "TUPLE3";
    case 0x88:
      return "NEWTRUE";
    case 0x89:
      return "NEWFALSE";
    case 0x8a:
      return "LONG1";
    case 0x8b:
      return "LONG4";
    case 0x8c:
      return "SHORT_BINUNICODE";
    case 0x8d:
      return "BINUNICODE8";
    case 0x8e:
      return "BINBYTES8";
    case 0x8f:
      return "EMPTY_SET";
    case 0x90:
      return "ADDITEMS";
    case 0x91:
      return "FROZENSET";
    case 0x92:
      return "NEWOBJ_EX";
    case 0x93:
      return "STACK_GLOBAL";
    case 0x94:
      return "MEMOIZE";
    case 0x95:
      return "FRAME";
    case 0x96:
      return "BYTEARRAY8";
    default:
      return nullptr;
  }
}

class Machine {
 public:
  Machine(std::span<const std::byte> bytes, const Options& opt)
      : p_(reinterpret_cast<const unsigned char*>(bytes.data())), n_(bytes.size()), opt_(opt) {}

  Result run() {
    try {
      Result r;
      r.root = execute();
      check_structure(r.root);
      r.placeholders = std::move(placeholders_);
      release();
      return r;
    } catch (...) {
      // Cut every container loose, so cycles a hostile pickle built cannot leak and deep chains
      // cannot overflow the stack in destructors.
      for (auto& v : containers_) drop_children(v);
      throw;
    }
  }

 private:
  // ---- errors and raw reads ---------------------------------------------------------------------
  template <class... A>
  [[noreturn]] void fail(fmt::format_string<A...> f, A&&... a) const {
    const char* name = opcode_name(op_);
    MOLM_THROW("pickle", "{}: {} (opcode {} at byte {})", opt_.source, fmt::format(f, std::forward<A>(a)...),
               name ? fmt::format("{}", name) : fmt::format("0x{:02x}", op_), op_at_);
  }
  void need(std::uint64_t k) const {
    if (k > n_ - pos_) fail("truncated: needs {} more bytes, only {} left", k, n_ - pos_);
  }
  std::uint64_t uint(int bytes) {
    need(static_cast<std::uint64_t>(bytes));
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(p_[pos_ + i]) << (8 * i);
    pos_ += static_cast<std::size_t>(bytes);
    return v;
  }
  std::string take(std::uint64_t k) {
    need(k);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<std::size_t>(k));
    pos_ += static_cast<std::size_t>(k);
    return s;
  }
  std::string line() {
    const auto* start = p_ + pos_;
    const auto* nl = static_cast<const unsigned char*>(std::memchr(start, '\n', n_ - pos_));
    if (!nl) fail("truncated: no end of line");
    std::string s(reinterpret_cast<const char*>(start), static_cast<std::size_t>(nl - start));
    pos_ += s.size() + 1;
    return s;
  }

  // ---- stack, marks, memo ---------------------------------------------------------------------
  void push(Value v) {
    if (stack_.size() >= opt_.limits.max_stack) fail("stack deeper than {} values", opt_.limits.max_stack);
    stack_.push_back(std::move(v));
  }
  Value pop() {
    if (stack_.size() <= floor()) fail("stack underflow");
    Value v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  Value& top() {
    if (stack_.size() <= floor()) fail("stack underflow");
    return stack_.back();
  }
  /// Values above the innermost MARK are the only ones an opcode may pop (as in CPython).
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<Value> pop_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    const std::size_t at = marks_.back();
    marks_.pop_back();
    std::vector<Value> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(at)),
                             std::make_move_iterator(stack_.end()));
    stack_.resize(at);
    return items;
  }
  void memo_put(std::uint64_t key) {
    if (key > 0xffffffffu) fail("memo key {} out of range", key);
    if (memo_.size() >= opt_.limits.max_memo && !memo_.count(static_cast<std::uint32_t>(key)))
      fail("memo larger than {} entries", opt_.limits.max_memo);
    memo_[static_cast<std::uint32_t>(key)] = top();
  }
  void memo_get(std::uint64_t key) {
    const auto it = key <= 0xffffffffu ? memo_.find(static_cast<std::uint32_t>(key)) : memo_.end();
    if (it == memo_.end()) fail("memo key {} was never stored", key);
    push(it->second);
  }
  void count_items(std::size_t k) {
    items_ += k;
    if (items_ > opt_.limits.max_items) fail("more than {} container items in total", opt_.limits.max_items);
  }

  // ---- constructors of values ----------------------------------------------------------------------
  template <class T>
  std::shared_ptr<T> make_container() {
    auto p = std::make_shared<T>();
    containers_.emplace_back(p);
    return p;
  }
  std::shared_ptr<Sequence> make_sequence(Sequence::Type type, std::vector<Value> items = {}) {
    count_items(items.size());
    auto s = make_container<Sequence>();
    s->type = type;
    s->items = std::move(items);
    return s;
  }
  Value tuple(std::vector<Value> items) { return make_sequence(Sequence::Type::tuple, std::move(items)); }
  Value placeholder(const Global& g, Value args, Value kwargs = {}) {
    auto o = make_container<Object>();
    o->class_name = g.qualified();
    o->args = std::move(args);
    o->kwargs = std::move(kwargs);
    return o;
  }

  Value global(std::string module, std::string name) {
    if (module.empty() || name.empty()) fail("GLOBAL with an empty module or name");
    if (module == "__builtin__") module = "builtins";  // protocol 2 writes Python 2 names
    if (module == "copy_reg") module = "copyreg";
    const std::string q = module + "." + name;
    if (const char* why = dangerous_global(module, name))
      fail("GLOBAL '{}' names {}; the file is rejected (a genuine checkpoint never contains one)",
           io::detail::printable(q), why);
    auto g = std::make_shared<Global>();
    g->module = std::move(module);
    g->name = std::move(name);
    g->fn = classify(*g);
    if (g->fn == Global::Fn::placeholder && seen_.insert(q).second) placeholders_.push_back(q);
    return std::shared_ptr<const Global>(std::move(g));
  }

  static Global::Fn classify(const Global& g) {
    using F = Global::Fn;
    const std::string& m = g.module;
    const std::string& n = g.name;
    if (m == "collections" && n == "OrderedDict") return F::ordered_dict;
    if (m == "builtins") {
      if (n == "dict") return F::dict;
      if (n == "list") return F::list;
      if (n == "set") return F::set;
      if (n == "frozenset") return F::frozenset;
      if (n == "bytes") return F::bytes;
      if (n == "bytearray") return F::bytearray;
    }
    if (m == "_codecs" && n == "encode") return F::codecs_encode;
    if (m == "torch._utils") {
      if (n == "_rebuild_tensor") return F::rebuild_tensor;
      if (n == "_rebuild_tensor_v2") return F::rebuild_tensor_v2;
      if (n == "_rebuild_parameter") return F::rebuild_parameter;
      if (n == "_rebuild_parameter_with_state") return F::rebuild_parameter_with_state;
    }
    if (m == "torch._tensor" && n == "_rebuild_from_type_v2") return F::rebuild_from_type_v2;
    if ((m == "torch" || m == "torch._tensor") && n == "Tensor") return F::tensor_type;
    if ((m == "torch.nn.parameter" || m == "torch.nn") && n == "Parameter") return F::tensor_type;
    if (m == "torch" || m == "torch.storage" || m == "torch.cuda") {
      std::optional<DType> dt;
      std::size_t size = 0;
      if (torch_storage_type(n, dt, size)) return F::storage_type;
    }
    const bool multiarray = m == "numpy.core.multiarray" || m == "numpy._core.multiarray";
    if (multiarray && n == "_reconstruct") return F::numpy_reconstruct;
    if (multiarray && n == "scalar") return F::numpy_scalar;
    if ((m == "numpy.core.numeric" || m == "numpy._core.numeric") && n == "_frombuffer") return F::numpy_frombuffer;
    if (m == "numpy" && n == "ndarray") return F::numpy_ndarray;
    if (m == "numpy" && n == "dtype") return F::numpy_dtype;
    return F::placeholder;
  }

  // ---- REDUCE / NEWOBJ: molm's own rebuilds ------------------------------------------------------
  Value call(const Value& fn, const Value& args_value, int nesting = 0) {
    if (!fn.is(Kind::global)) fail("REDUCE calls {}, which is not a global", fn.describe());
    if (!args_value.is(Kind::sequence) || args_value.as_sequence().type != Sequence::Type::tuple)
      fail("REDUCE arguments are {}, not a tuple", args_value.describe());
    const Global& g = fn.as_global();
    const std::vector<Value>& a = args_value.as_sequence().items;
    const std::string q = g.qualified();
    auto arity = [&](std::size_t lo, std::size_t hi) {
      if (a.size() < lo || a.size() > hi) fail("{} takes {} to {} arguments, got {}", q, lo, hi, a.size());
    };
    using F = Global::Fn;
    switch (g.fn) {
      case F::placeholder:
      case F::tensor_type:
      case F::storage_type:
      case F::numpy_ndarray:
        return placeholder(g, args_value);
      case F::ordered_dict:
      case F::dict: {
        arity(0, 1);
        auto d = make_container<Dict>();
        if (a.size() == 1) fill_dict(*d, a[0], q);
        return d;
      }
      case F::list:
      case F::set:
      case F::frozenset: {
        arity(0, 1);
        const auto type = g.fn == F::list  ? Sequence::Type::list
                          : g.fn == F::set ? Sequence::Type::set
                                           : Sequence::Type::frozenset;
        std::vector<Value> items;
        if (a.size() == 1) {
          if (!a[0].is(Kind::sequence)) fail("{} of {}", q, a[0].describe());
          items = a[0].as_sequence().items;
        }
        return make_sequence(type, std::move(items));
      }
      case F::bytes:
      case F::bytearray:
        arity(0, 2);
        if (a.empty()) return Value::bytes("");
        if (a.size() == 1 && a[0].is(Kind::bytes)) return a[0];
        return encode(a[0], a.size() == 2 ? &a[1] : nullptr, q);
      case F::codecs_encode:
        arity(1, 2);
        return encode(a[0], a.size() == 2 ? &a[1] : nullptr, q);
      case F::rebuild_tensor:
        arity(4, 4);
        return rebuild_tensor(a, false, q);
      case F::rebuild_tensor_v2:
        arity(6, 7);
        return rebuild_tensor(a, a[4].is(Kind::boolean) && a[4].as_bool(), q);
      case F::rebuild_parameter:
      case F::rebuild_parameter_with_state: {
        arity(3, 4);
        if (!a[0].is(Kind::tensor)) fail("{}: the parameter's data is {}, not a tensor", q, a[0].describe());
        auto t = std::make_shared<TensorRef>(a[0].as_tensor());
        t->parameter = true;
        t->requires_grad = a[1].is(Kind::boolean) && a[1].as_bool();
        return std::shared_ptr<const TensorRef>(std::move(t));
      }
      case F::rebuild_from_type_v2: {
        arity(3, 4);  // (func, new_type, args, state): rebuild with func, ignore the subclass and its state
        if (nesting > 0) fail("{} nested in itself", q);
        return call(a[0], a[2], nesting + 1);
      }
      case F::numpy_reconstruct: {
        arity(3, 3);
        if (!a[0].is(Kind::global) || a[0].as_global().fn != F::numpy_ndarray)
          return placeholder(g, args_value);  // an ndarray subclass (numpy.ma, ...): keep it inert
        return make_container<NdArray>();
      }
      case F::numpy_dtype: {
        arity(1, 3);
        if (!a[0].is(Kind::string)) fail("numpy.dtype of {}", a[0].describe());
        auto d = std::make_shared<NumpyDType>();
        d->code = a[0].as_string();
        if (d->code.size() > 64) fail("numpy dtype code of {} characters", d->code.size());
        if (!d->code.empty() && (d->code[0] == '<' || d->code[0] == '>' || d->code[0] == '|' || d->code[0] == '=')) {
          d->byteorder = d->code[0];
          d->code.erase(0, 1);
        }
        return d;
      }
      case F::numpy_scalar:
        return numpy_scalar(g, args_value, a);
      case F::numpy_frombuffer: {
        arity(4, 4);  // (buffer, dtype, shape, order)
        auto arr = make_container<NdArray>();
        if (!a[3].is(Kind::string)) fail("numpy _frombuffer order is {}", a[3].describe());
        set_array(*arr, a[2], a[1], a[3].as_string() == "F", a[0]);
        return arr;
      }
    }
    fail("unknown rebuild");
  }

  void fill_dict(Dict& d, const Value& from, const std::string& q) {
    if (from.is(Kind::dict)) {
      for (const auto& [k, v] : from.as_dict().items) d.set(k, v);
    } else if (from.is(Kind::sequence)) {
      for (const auto& pair : from.as_sequence().items) {
        if (!pair.is(Kind::sequence) || pair.as_sequence().size() != 2)
          fail("{} item {} is not a pair", q, pair.describe());
        d.set(pair.as_sequence()[0], pair.as_sequence()[1]);
      }
    } else {
      fail("{} of {}", q, from.describe());
    }
    count_items(d.size());
  }

  /// _codecs.encode(str, 'latin1') is how protocol 2 writes bytes: each code point is one byte.
  Value encode(const Value& text, const Value* encoding, const std::string& q) {
    if (!text.is(Kind::string)) fail("{} of {}", q, text.describe());
    std::string enc = encoding ? (encoding->is(Kind::string) ? encoding->as_string() : std::string("?")) : "utf-8";
    std::transform(enc.begin(), enc.end(), enc.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::replace(enc.begin(), enc.end(), '_', '-');
    const std::string& s = text.as_string();
    if (enc == "utf-8" || enc == "utf8") return Value::bytes(s);
    if (enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1" || enc == "l1" || enc == "ascii") {
      // Python writes str as UTF-8 with 'surrogatepass'; a surrogate could never fit these
      // encodings, so strict decoding (core/utf8.hpp) loses nothing.
      if (const std::size_t bad = utf8::first_invalid(s); bad != std::string_view::npos)
        fail("{}: the text is not valid UTF-8 (byte {} of {})", q, bad, s.size());
      const std::u32string cps = utf8::decode(s, utf8::Replacement::per_byte);
      const std::uint32_t top = enc == "ascii" ? 0x7f : 0xff;
      std::string out(cps.size(), '\0');
      for (std::size_t i = 0; i < cps.size(); ++i) {
        if (cps[i] > top)
          fail("{}: code point U+{:04X} does not fit encoding '{}'", q, static_cast<std::uint32_t>(cps[i]), enc);
        out[i] = static_cast<char>(cps[i]);
      }
      return Value::bytes(std::move(out));
    }
    fail("{}: unsupported encoding '{}'", q, io::detail::printable(enc));
  }

  /// Checked int64 arithmetic for tensor geometry from the pickle.
  std::vector<std::int64_t> int_tuple(const Value& v, const char* what, const std::string& q) {
    if (!v.is(Kind::sequence)) fail("{}: {} is {}, not a tuple of ints", q, what, v.describe());
    std::vector<std::int64_t> out;
    for (const auto& x : v.as_sequence().items) {
      if (!x.is(Kind::integer)) fail("{}: {} holds {}, not an int", q, what, x.describe());
      out.push_back(x.as_int());
    }
    if (out.size() > static_cast<std::size_t>(kMaxDims))
      fail("{}: {} has {} dimensions (at most {})", q, what, out.size(), kMaxDims);
    return out;
  }

  /// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]).
  Value rebuild_tensor(const std::vector<Value>& a, bool requires_grad, const std::string& q) {
    if (!a[0].is(Kind::storage)) fail("{}: argument 1 is {}, not a storage", q, a[0].describe());
    if (!a[1].is(Kind::integer)) fail("{}: the storage offset is {}", q, a[1].describe());
    const auto& storage = a[0].storage_ptr();
    const auto size = int_tuple(a[2], "the size", q);
    const auto stride = int_tuple(a[3], "the stride", q);
    if (size.size() != stride.size()) fail("{}: size has {} dimensions, stride {}", q, size.size(), stride.size());
    const std::int64_t offset = a[1].as_int();
    if (offset < 0) fail("{}: negative storage offset {}", q, offset);
    // The furthest element any index reaches must be inside the storage.
    std::int64_t last = offset, numel = 1;
    bool empty = false;
    for (std::size_t i = 0; i < size.size(); ++i) {
      if (size[i] < 0 || stride[i] < 0)
        fail("{}: negative size or stride in {} / {}", q, Shape(size).str(), Shape(stride).str());
      if (__builtin_mul_overflow(numel, size[i], &numel))
        fail("{}: element count of {} overflows", q, Shape(size).str());
      if (size[i] == 0) empty = true;
    }
    if (!empty) {
      for (std::size_t i = 0; i < size.size(); ++i) {
        std::int64_t reach = 0;
        if (__builtin_mul_overflow(size[i] - 1, stride[i], &reach) || __builtin_add_overflow(last, reach, &last))
          fail("{}: the view size {} stride {} overflows", q, Shape(size).str(), Shape(stride).str());
      }
      if (last >= storage->numel)
        fail("{}: the view (size {}, stride {}, offset {}) reaches element {} of storage '{}', which has {}", q,
             Shape(size).str(), Shape(stride).str(), offset, last, io::detail::printable(storage->key), storage->numel);
    }
    auto t = std::make_shared<TensorRef>();
    t->storage = storage;
    t->offset = offset;
    t->shape = Shape(size);
    t->strides = Shape(stride);
    t->requires_grad = requires_grad;
    return std::shared_ptr<const TensorRef>(std::move(t));
  }

  /// numpy.core.multiarray.scalar(dtype, bytes) → a plain bool/int/float; other dtypes stay inert.
  Value numpy_scalar(const Global& g, const Value& args_value, const std::vector<Value>& a) {
    if (a.size() != 2 || !a[0].is(Kind::numpy_dtype) || !a[1].is(Kind::bytes)) return placeholder(g, args_value);
    const NumpyDType& dt = a[0].as_numpy_dtype();
    std::string raw = a[1].as_bytes();
    const std::size_t size = dt.itemsize();
    if (size == 0 || raw.size() != size) return placeholder(g, args_value);
    if (dt.big_endian()) std::reverse(raw.begin(), raw.end());
    auto read = [&](auto tag) {
      decltype(tag) x;
      std::memcpy(&x, raw.data(), sizeof x);
      return x;
    };
    switch (dt.kind()) {
      case 'f':
        if (size == 8) return Value(read(double{}));
        if (size == 4) return Value(static_cast<double>(read(float{})));
        if (size == 2) return Value(static_cast<double>(static_cast<float>(read(float16{}))));
        break;
      case 'i':
        if (size == 8) return Value(read(std::int64_t{}));
        if (size == 4) return Value(static_cast<std::int64_t>(read(std::int32_t{})));
        if (size == 2) return Value(static_cast<std::int64_t>(read(std::int16_t{})));
        if (size == 1) return Value(static_cast<std::int64_t>(read(std::int8_t{})));
        break;
      case 'u':
        if (size == 8 && read(std::uint64_t{}) <= static_cast<std::uint64_t>(INT64_MAX))
          return Value(static_cast<std::int64_t>(read(std::uint64_t{})));
        if (size == 4) return Value(static_cast<std::int64_t>(read(std::uint32_t{})));
        if (size == 2) return Value(static_cast<std::int64_t>(read(std::uint16_t{})));
        if (size == 1) return Value(static_cast<std::int64_t>(read(std::uint8_t{})));
        break;
      case 'b':
        if (size == 1) return Value(raw[0] != 0);
        break;
      default:
        break;
    }
    return placeholder(g, args_value);
  }

  /// Fill an array from (shape, dtype, fortran, data) and check the byte count.
  void set_array(NdArray& arr, const Value& shape, const Value& dtype, bool fortran, const Value& data) {
    const std::string q = "numpy array";
    if (!dtype.is(Kind::numpy_dtype)) fail("{}: dtype is {}", q, dtype.describe());
    arr.dtype = dtype.as_numpy_dtype();
    arr.shape = int_tuple(shape, "the shape", q);
    arr.fortran_order = fortran;
    std::int64_t numel = 1;
    for (const auto d : arr.shape)
      if (d < 0 || __builtin_mul_overflow(numel, d, &numel)) fail("{}: impossible shape {}", q, Shape(arr.shape).str());
    if (data.is(Kind::sequence)) {  // an object array: its elements are pickled values
      arr.object_array = true;
      arr.objects = data.as_sequence().items;
    } else {
      if (!data.is(Kind::bytes) && !data.is(Kind::string)) fail("{}: data is {}", q, data.describe());
      const std::size_t size = arr.dtype.itemsize();
      std::uint64_t want = 0;
      if (size == 0) fail("{}: dtype {} has no fixed element size", q, arr.dtype.str());
      if (__builtin_mul_overflow(static_cast<std::uint64_t>(numel), size, &want) || want != data.shared_text()->size())
        fail("{}: {} elements of {} need {} bytes, the data has {}", q, numel, arr.dtype.str(), want,
             data.shared_text()->size());
      arr.data = data.shared_text();
    }
    arr.built = true;
  }

  // ---- BUILD, SETITEMS, APPENDS on the different targets ---------------------------------------
  void build(Value& target, Value state) {
    switch (target.kind()) {
      case Kind::object:
        target.as_object().state = std::move(state);
        return;
      case Kind::dict:
        target.as_dict().state = std::move(state);
        return;
      case Kind::sequence:
        return;  // a list subclass's attributes: nothing molm uses
      case Kind::numpy_dtype: {
        // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
        if (state.is(Kind::sequence) && state.as_sequence().size() >= 2 && state.as_sequence()[1].is(Kind::string)) {
          const std::string& bo = state.as_sequence()[1].as_string();
          if (bo.size() == 1) target.as_numpy_dtype().byteorder = bo[0];
        }
        return;
      }
      case Kind::ndarray: {
        NdArray& arr = target.as_ndarray();
        if (arr.built) fail("BUILD applied twice to a numpy array");
        if (!state.is(Kind::sequence)) fail("numpy array state is {}", state.describe());
        const auto& s = state.as_sequence().items;
        const std::size_t o = s.size() == 5 ? 1 : 0;  // (version, shape, dtype, fortran, data) or without version
        if (s.size() != 4 + o) fail("numpy array state has {} items", s.size());
        if (!s[o + 2].is(Kind::boolean) && !s[o + 2].is(Kind::integer))
          fail("numpy array fortran flag is {}", s[o + 2].describe());
        const bool fortran = s[o + 2].is(Kind::boolean) ? s[o + 2].as_bool() : s[o + 2].as_int() != 0;
        set_array(arr, s[o], s[o + 1], fortran, s[o + 3]);
        return;
      }
      default:
        fail("BUILD applied to {}", target.describe());
    }
  }
  void set_items(Value& target, std::vector<Value>& kv) {
    if (kv.size() % 2) fail("SETITEMS with an odd number of values ({})", kv.size());
    Dict* d = target.is(Kind::dict) ? &target.as_dict() : target.is(Kind::object) ? &target.as_object().items : nullptr;
    if (!d) fail("SETITEMS applied to {}", target.describe());
    count_items(kv.size() / 2);
    for (std::size_t i = 0; i < kv.size(); i += 2) d->set(std::move(kv[i]), std::move(kv[i + 1]));
  }
  void append(Value& target, std::vector<Value>& values, bool set_add) {
    std::vector<Value>* out = nullptr;
    if (target.is(Kind::sequence)) {
      Sequence& s = target.as_sequence();
      const bool ok = set_add ? s.type == Sequence::Type::set : s.type == Sequence::Type::list;
      if (ok) out = &s.items;
    } else if (target.is(Kind::object)) {
      out = &target.as_object().elements;
    }
    if (!out) fail("{} applied to {}", set_add ? "ADDITEMS" : "APPENDS", target.describe());
    count_items(values.size());
    for (auto& v : values) out->push_back(std::move(v));
  }
  Value new_object(const Value& cls, Value args, Value kwargs) {
    if (!cls.is(Kind::global)) fail("NEWOBJ of {}, which is not a class", cls.describe());
    if (!args.is(Kind::sequence)) fail("NEWOBJ arguments are {}", args.describe());
    const Global& g = cls.as_global();
    using F = Global::Fn;
    switch (g.fn) {
      case F::ordered_dict:
      case F::dict:
        return make_container<Dict>();
      case F::list:
        return make_sequence(Sequence::Type::list);
      case F::set:
        return make_sequence(Sequence::Type::set);
      default:
        return placeholder(g, std::move(args), std::move(kwargs));
    }
  }

  // ---- the loop -----------------------------------------------------------------------------------
  Value execute() {
    while (pos_ < n_) {
      op_at_ = pos_;
      op_ = p_[pos_++];
      switch (op_) {
        case 0x80: {  // PROTO
          const auto v = uint(1);
          if (v > 5) fail("pickle protocol {} is newer than 5", v);
          break;
        }
        case 0x95: {  // FRAME: a length hint; the bytes follow inline
          const auto len = uint(8);
          if (len > n_ - pos_) fail("frame of {} bytes runs past the end", len);
          break;
        }
        case 0x2e: {  // STOP
          if (!marks_.empty()) fail("STOP inside an unclosed MARK");
          return pop();
        }
        case 0x28:  // MARK
          if (marks_.size() >= opt_.limits.max_stack) fail("too many MARKs");
          marks_.push_back(stack_.size());
          break;
        case 0x30:
          pop();
          break;  // POP
        case 0x31:
          pop_mark();
          break;  // POP_MARK
        case 0x32:
          push(top());
          break;  // DUP
        case 0x4e:
          push(Value());
          break;
        case 0x88:
          push(Value(true));
          break;
        case 0x89:
          push(Value(false));
          break;
        case 0x4a:
          push(Value(static_cast<std::int64_t>(static_cast<std::int32_t>(uint(4)))));
          break;
        case 0x4b:
          push(Value(static_cast<std::int64_t>(uint(1))));
          break;
        case 0x4d:
          push(Value(static_cast<std::int64_t>(uint(2))));
          break;
        case 0x8a:
          push(long_int(uint(1)));
          break;      // LONG1
        case 0x8b: {  // LONG4
          const auto len = static_cast<std::int32_t>(uint(4));
          if (len < 0) fail("negative LONG4 length");
          push(long_int(static_cast<std::uint64_t>(len)));
          break;
        }
        case 0x47: {  // BINFLOAT: big-endian IEEE double
          std::uint64_t bits = 0;
          need(8);
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | p_[pos_ + i];
          pos_ += 8;
          double d;
          std::memcpy(&d, &bits, 8);
          push(Value(d));
          break;
        }
        case 0x58:
          push(Value::string(take(uint(4))));
          break;  // BINUNICODE
        case 0x8c:
          push(Value::string(take(uint(1))));
          break;  // SHORT_BINUNICODE
        case 0x8d:
          push(Value::string(take(uint(8))));
          break;  // BINUNICODE8
        case 0x42:
          push(Value::bytes(take(uint(4))));
          break;  // BINBYTES
        case 0x43:
          push(Value::bytes(take(uint(1))));
          break;    // SHORT_BINBYTES
        case 0x8e:  // BINBYTES8
        case 0x96:
          push(Value::bytes(take(uint(8))));
          break;      // BYTEARRAY8
        case 0x54: {  // BINSTRING (Python 2 str: bytes)
          const auto len = static_cast<std::int32_t>(uint(4));
          if (len < 0) fail("negative BINSTRING length");
          push(Value::bytes(take(static_cast<std::uint64_t>(len))));
          break;
        }
        case 0x55:
          push(Value::bytes(take(uint(1))));
          break;  // SHORT_BINSTRING
        case 0x7d:
          push(make_container<Dict>());
          break;  // EMPTY_DICT
        case 0x5d:
          push(make_sequence(Sequence::Type::list));
          break;
        case 0x29:
          push(tuple({}));
          break;
        case 0x8f:
          push(make_sequence(Sequence::Type::set));
          break;
        case 0x64: {  // DICT
          auto items = pop_mark();
          Value d = make_container<Dict>();
          set_items(d, items);
          push(std::move(d));
          break;
        }
        case 0x6c:
          push(make_sequence(Sequence::Type::list, pop_mark()));
          break;  // LIST
        case 0x74:
          push(tuple(pop_mark()));
          break;  // TUPLE
        case 0x91:
          push(make_sequence(Sequence::Type::frozenset, pop_mark()));
          break;  // FROZENSET
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          const std::size_t k = op_ - 0x84u;
          std::vector<Value> items(k);
          for (std::size_t i = k; i-- > 0;) items[i] = pop();
          push(tuple(std::move(items)));
          break;
        }
        case 0x61: {  // APPEND
          std::vector<Value> v{pop()};
          append(top(), v, false);
          break;
        }
        case 0x65: {  // APPENDS
          auto v = pop_mark();
          append(top(), v, false);
          break;
        }
        case 0x90: {  // ADDITEMS
          auto v = pop_mark();
          append(top(), v, true);
          break;
        }
        case 0x73: {  // SETITEM
          Value v = pop();
          Value k = pop();
          std::vector<Value> kv{std::move(k), std::move(v)};
          set_items(top(), kv);
          break;
        }
        case 0x75: {  // SETITEMS
          auto kv = pop_mark();
          set_items(top(), kv);
          break;
        }
        case 0x63: {  // GLOBAL "module\nname\n"
          std::string module = line();
          std::string name = line();
          push(global(std::move(module), std::move(name)));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          Value name = pop();
          Value module = pop();
          if (!module.is(Kind::string) || !name.is(Kind::string))
            fail("STACK_GLOBAL needs two str, got {} and {}", module.describe(), name.describe());
          push(global(module.as_string(), name.as_string()));
          break;
        }
        case 0x52: {  // REDUCE
          Value args = pop();
          Value fn = pop();
          push(call(fn, args));
          break;
        }
        case 0x81: {  // NEWOBJ
          Value args = pop();
          Value cls = pop();
          push(new_object(cls, std::move(args), Value()));
          break;
        }
        case 0x92: {  // NEWOBJ_EX
          Value kwargs = pop();
          Value args = pop();
          Value cls = pop();
          push(new_object(cls, std::move(args), std::move(kwargs)));
          break;
        }
        case 0x62: {  // BUILD
          Value state = pop();
          build(top(), std::move(state));
          break;
        }
        case 0x51: {  // BINPERSID
          Value pid = pop();
          if (!opt_.persistent_load) fail("persistent id {} but no persistent_load", pid.describe());
          try {
            push(opt_.persistent_load(pid));
          } catch (const error& e) {
            fail("{}", e.what());
          }
          break;
        }
        case 0x71:
          memo_put(uint(1));
          break;  // BINPUT
        case 0x72:
          memo_put(uint(4));
          break;  // LONG_BINPUT
        case 0x94:
          memo_put(memo_.size());
          break;  // MEMOIZE
        case 0x70:
          memo_put(decimal(line()));
          break;  // PUT
        case 0x68:
          memo_get(uint(1));
          break;  // BINGET
        case 0x6a:
          memo_get(uint(4));
          break;  // LONG_BINGET
        case 0x67:
          memo_get(decimal(line()));
          break;  // GET
        default:
          fail("unsupported opcode 0x{:02x}{}", op_,
               op_ >= 0x20 && op_ < 0x7f ? fmt::format(" ('{}')", static_cast<char>(op_)) : std::string());
      }
    }
    op_at_ = pos_;
    op_ = 0;
    fail("the pickle ends without STOP (truncated)");
  }

  std::uint64_t decimal(const std::string& s) {
    if (s.empty() || s.size() > 10) fail("bad memo index '{}'", io::detail::printable(s));
    std::uint64_t v = 0;
    for (const char c : s) {
      if (c < '0' || c > '9') fail("bad memo index '{}'", io::detail::printable(s));
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return v;
  }

  /// LONG1/LONG4: little-endian two's complement. Values beyond int64 become an inert placeholder.
  Value long_int(std::uint64_t len) {
    need(len);
    const unsigned char* b = p_ + pos_;
    pos_ += static_cast<std::size_t>(len);
    if (len == 0) return Value(std::int64_t{0});
    const bool negative = (b[len - 1] & 0x80) != 0;
    for (std::uint64_t i = 8; i < len; ++i) {
      if (b[i] != (negative ? 0xff : 0x00)) {
        Global g;
        g.module = "builtins";
        g.name = "int";
        return placeholder(g,
                           Value::bytes(std::string(reinterpret_cast<const char*>(b), static_cast<std::size_t>(len))));
      }
    }
    std::uint64_t v = negative ? ~std::uint64_t{0} : 0;
    for (std::uint64_t i = 0; i < std::min<std::uint64_t>(len, 8); ++i) {
      v &= ~(std::uint64_t{0xff} << (8 * i));
      v |= static_cast<std::uint64_t>(b[i]) << (8 * i);
    }
    if (len >= 8 && ((v >> 63) != 0) != negative) {  // sign lost in the 9th byte: out of range
      Global g;
      g.module = "builtins";
      g.name = "int";
      return placeholder(g, Value::bytes(std::string(reinterpret_cast<const char*>(b), static_cast<std::size_t>(len))));
    }
    return Value(static_cast<std::int64_t>(v));
  }

  // ---- after STOP: no cycles, bounded depth ----------------------------------------------------------
  template <class F>
  static void for_each_child(const Value& v, F&& f) {
    switch (v.kind()) {
      case Kind::sequence:
        for (const auto& x : v.as_sequence().items) f(x);
        break;
      case Kind::dict:
        for (const auto& [k, x] : v.as_dict().items) f(k), f(x);
        f(v.as_dict().state);
        break;
      case Kind::object: {
        const Object& o = v.as_object();
        f(o.args), f(o.kwargs), f(o.state);
        for (const auto& [k, x] : o.items.items) f(k), f(x);
        for (const auto& x : o.elements) f(x);
        break;
      }
      case Kind::ndarray:
        for (const auto& x : v.as_ndarray().objects) f(x);
        break;
      default:
        break;
    }
  }
  static bool is_container(const Value& v) {
    return v.is(Kind::sequence) || v.is(Kind::dict) || v.is(Kind::object) ||
           (v.is(Kind::ndarray) && !v.as_ndarray().objects.empty());
  }
  static void drop_children(Value& v) {
    switch (v.kind()) {
      case Kind::sequence:
        v.as_sequence().items.clear();
        break;
      case Kind::dict:
        v.as_dict().clear();
        break;
      case Kind::object: {
        Object& o = v.as_object();
        o.args = o.kwargs = o.state = Value();
        o.items.clear();
        o.elements.clear();
        break;
      }
      case Kind::ndarray:
        v.as_ndarray().objects.clear();
        break;
      default:
        break;
    }
  }

  /// Iterative depth-first walk from the root: a container met again while still open is a cycle;
  /// heights are computed on the way back, so the longest chain is measured, not the first found.
  void check_structure(const Value& root) {
    std::unordered_map<const void*, std::size_t> height;  // 0 = open (on the path)
    if (is_container(root)) walk(root, height);
    // Containers the root does not reach are garbage; cut them loose so their cycles cannot leak.
    for (auto& v : containers_)
      if (!height.count(v.identity())) drop_children(v);
  }
  template <class... A>
  [[noreturn]] void fail_structure(fmt::format_string<A...> f, A&&... a) const {
    MOLM_THROW("pickle", "{}: {}", opt_.source, fmt::format(f, std::forward<A>(a)...));
  }
  void walk(const Value& root, std::unordered_map<const void*, std::size_t>& height) {
    struct Frame {
      Value node;
      std::vector<Value> kids;
      std::size_t next = 0;
      std::size_t best = 0;
    };
    std::vector<Frame> path;
    auto open = [&](const Value& v) {
      Frame f{v, {}, 0, 0};
      for_each_child(v, [&](const Value& c) {
        if (is_container(c)) f.kids.push_back(c);
      });
      height[v.identity()] = 0;
      path.push_back(std::move(f));
      if (path.size() > opt_.limits.max_depth)
        fail_structure("containers nest deeper than {} levels", opt_.limits.max_depth);
    };
    open(root);
    while (!path.empty()) {
      Frame& f = path.back();
      if (f.next < f.kids.size()) {
        const Value kid = f.kids[f.next++];
        const auto it = height.find(kid.identity());
        if (it == height.end()) {
          open(kid);
        } else if (it->second == 0) {
          fail_structure("a container holds itself (a recursive structure: {})", kid.describe());
        } else {
          f.best = std::max(f.best, it->second);
        }
        continue;
      }
      const std::size_t h = f.best + 1;
      if (h > opt_.limits.max_depth) fail_structure("containers nest deeper than {} levels", opt_.limits.max_depth);
      height[f.node.identity()] = h;
      path.pop_back();
      if (!path.empty()) path.back().best = std::max(path.back().best, h);
    }
  }
  void release() {
    memo_.clear();
    stack_.clear();
    containers_.clear();
  }

  const unsigned char* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
  std::size_t op_at_ = 0;
  std::uint8_t op_ = 0;
  const Options& opt_;
  std::vector<Value> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint32_t, Value> memo_;
  std::vector<Value> containers_;  // every container made, to break cycles on failure
  std::size_t items_ = 0;
  std::vector<std::string> placeholders_;
  std::unordered_set<std::string> seen_;
};

}  // namespace detail

/// Unpickle `bytes`. Throws molm::error (with the byte offset) for anything malformed or dangerous.
inline Result load(std::span<const std::byte> bytes, const Options& options = {}) {
  return detail::Machine(bytes, options).run();
}
inline Result load(std::string_view bytes, const Options& options = {}) {
  return load(std::span<const std::byte>(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()), options);
}

}  // namespace molm::io::pickle

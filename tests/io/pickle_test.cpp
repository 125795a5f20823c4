// The restricted unpickler (io/pickle.hpp): values from pickles Python wrote (protocols 2, 4, 5,
// numpy 1.x globals), placeholders, the dangerous-global rule, limits, and hostile bytes.
#include "support/testing.hpp"

#include <molm/io/pickle.hpp>
#include <molm/io/zip.hpp>

#include <random>

using namespace molm;
using namespace std::string_literals;
namespace pk = molm::io::pickle;

namespace {

std::string from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

// pickle.dumps({"best": np.float64(0.25), "arr": np.arange(6, dtype=np.int32).reshape(2, 3),
//               "flag": np.bool_(True), "f32": np.float32(1.5),
//               "farr": np.asfortranarray(np.arange(6.).reshape(2, 3))}, protocol=2), numpy 1.x names
const std::string kNumpyProtocol2 = from_hex(
    "80027d7100285804000000626573747101636e756d70792e636f72652e6d756c746961727261790a7363616c61720a7102636e756d70790a"
    "64747970650a71035802000000663871048988877105527106284b0358010000003c71074e4e4e4affffffff4affffffff4b007471086263"
    "5f636f646563730a656e636f64650a71095809000000000000000000c3903f710a58060000006c6174696e31710b86710c52710d86710e52"
    "710f58030000006172727110636e756d70792e636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7111636e756d7079"
    "0a6e6461727261790a71124b0085711368095801000000627114680b867115527116877117527118284b014b024b03867119680358020000"
    "006934711a898887711b52711c284b0368074e4e4e4affffffff4affffffff4b0074711d6289680958180000000000000001000000020000"
    "00030000000400000005000000711e680b86711f527120747121625804000000666c61677122680268035802000000623171238988877124"
    "527125284b0358010000007c71264e4e4e4affffffff4affffffff4b007471276268095801000000017128680b86712952712a86712b5271"
    "2c5803000000663332712d6802680358020000006634712e898887712f527130284b0368074e4e4e4affffffff4affffffff4b0074713162"
    "680958050000000000c3803f7132680b8671335271348671355271365804000000666172727137681168124b00857138681687713952713a"
    "284b014b024b0386713b6806886809583100000000000000000000000000000000000840000000000000c3b03f0000000000001040000000"
    "00000000400000000000001440713c680b86713d52713e74713f62752e");

// pickle.dumps({"t": (1, -2, 300, 70000, 2**40, -2**63, 2**70, 1.5, "ü", b"\x00\xff", None, True, False),
//               "s": {1, 2}, "fs": frozenset({3}), "l": [[], [1], [1]], "od": OrderedDict(a=1),
//               "ns": argparse.Namespace(x=1), ("k", 1): "tuple key", 2: "int key"}, protocol=4)
const std::string kProtocol4 = from_hex(
    "800495f0000000000000007d94288c017494284b014afeffffff4d2c014a701101008a060000000000018a0800000000000000808a090000"
    "00000000000040473ff80000000000008c02c3bc94430200ff944e888974948c0173948f94284b014b02908c02667394284b0391948c016c"
    "945d94285d945d944b01615d944b0161658c026f64948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c"
    "0161944b01738c026e73948c086172677061727365948c094e616d6573706163659493942981947d948c0178944b0173628c016b944b0186"
    "948c097475706c65206b6579944b028c07696e74206b657994752e");

// pickle.dumps({"ba": bytearray(b"xyz"), "arr": np.arange(3, dtype=np.float32)}, protocol=5)
const std::string kProtocol5 = from_hex(
    "8005959b000000000000007d94288c0262619496030000000000000078797a948c03617272948c126e756d70792e636f72652e6e756d6572"
    "6963948c0b5f66726f6d62756666657294939428960c00000000000000000000000000803f00000040948c056e756d7079948c0564747970"
    "659493948c02663494898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624b0385948c01439474945294752e");

std::string error_of(const std::string& bytes, const pk::Options& opt = {}) {
  try {
    pk::load(bytes, opt);
  } catch (const error& e) {
    return e.what();
  }
  return "";
}

const pk::Value& at(const pk::Value& dict, std::string_view key) {
  const pk::Value* v = dict.as_dict().find(key);
  INFO("key " << key);
  REQUIRE(v != nullptr);
  return *v;
}

// A torch persistent id and rebuild, written with raw opcodes:
// _rebuild_tensor_v2(('storage', torch.FloatStorage, '0', 'cpu', numel), offset, size, stride, False, OrderedDict())
std::string tensor_pickle(int numel, int offset, const std::string& size_tuple, const std::string& stride_tuple) {
  std::string p =
      "\x80\x02"
      "ctorch._utils\n_rebuild_tensor_v2\n("s;
  p += "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00"
       "0X\x03\x00\x00\x00"
       "cpu"s;
  p += "J" + std::string(reinterpret_cast<const char*>(&numel), 4) + "tQ";
  p += "J" + std::string(reinterpret_cast<const char*>(&offset), 4);
  p += size_tuple + stride_tuple +
       "\x89"
       "ccollections\nOrderedDict\n)Rt"
       "R."s;
  return p;
}
std::string int_tuple(std::initializer_list<std::int32_t> v) {
  std::string p = "(";
  for (const auto x : v) p += "J" + std::string(reinterpret_cast<const char*>(&x), 4);
  return p + "t";
}

pk::Options torch_options() {
  pk::Options opt;
  opt.source = "test.pkl";
  opt.persistent_load = [](const pk::Value& pid) -> pk::Value { return pk::storage_ref(pid); };
  return opt;
}

}  // namespace

TEST_CASE("pickle: protocol 4 values, containers, memo and placeholders", "[io][pickle]") {
  const pk::Result r = pk::load(kProtocol4);
  const pk::Value& root = r.root;
  REQUIRE(root.is(pk::Kind::dict));
  REQUIRE(root.as_dict().size() == 8);

  const pk::Sequence& t = at(root, "t").as_sequence();
  REQUIRE(t.type == pk::Sequence::Type::tuple);
  REQUIRE(t.size() == 13);
  CHECK(t[0].as_int() == 1);
  CHECK(t[1].as_int() == -2);
  CHECK(t[2].as_int() == 300);
  CHECK(t[3].as_int() == 70000);
  CHECK(t[4].as_int() == (std::int64_t{1} << 40));
  CHECK(t[5].as_int() == INT64_MIN);
  CHECK(t[6].is_placeholder());  // 2**70 does not fit in int64: kept inert
  CHECK(t[6].as_object().class_name == "builtins.int");
  CHECK(t[7].as_float() == 1.5);
  CHECK(t[8].as_string() == "\xc3\xbc");
  CHECK(t[9].as_bytes() == std::string("\x00\xff", 2));
  CHECK(t[10].is_none());
  CHECK(t[11].as_bool());
  CHECK_FALSE(t[12].as_bool());

  CHECK(at(root, "s").as_sequence().type == pk::Sequence::Type::set);
  CHECK(at(root, "s").as_sequence().size() == 2);
  CHECK(at(root, "fs").as_sequence().type == pk::Sequence::Type::frozenset);
  const pk::Sequence& l = at(root, "l").as_sequence();
  REQUIRE(l.size() == 3);
  CHECK(l[0].as_sequence().size() == 0);
  CHECK(l[1].as_sequence()[0].as_int() == 1);
  CHECK(at(at(root, "od"), "a").as_int() == 1);

  // argparse.Namespace(x=1): NEWOBJ + BUILD on a global molm does not know -> a placeholder with its state
  const pk::Value& ns = at(root, "ns");
  REQUIRE(ns.is_placeholder());
  CHECK(ns.as_object().class_name == "argparse.Namespace");
  CHECK(at(ns.as_object().state, "x").as_int() == 1);
  CHECK(ns.describe() == "placeholder for argparse.Namespace");
  REQUIRE(r.placeholders == std::vector<std::string>{"argparse.Namespace"});

  // keys that are not str
  bool tuple_key = false, int_key = false;
  for (const auto& [k, v] : root.as_dict().items) {
    if (k.is(pk::Kind::sequence)) tuple_key = v.as_string() == "tuple key" && k.as_sequence()[0].as_string() == "k";
    if (k.is(pk::Kind::integer)) int_key = k.as_int() == 2 && v.as_string() == "int key";
  }
  CHECK(tuple_key);
  CHECK(int_key);

  // Float keys as Python compares them: 3.0 == 3, so d[3] = 'a'; d[3.0] = 'b' keeps one entry; huge and
  // NaN keys are their own (found by fuzzing: converting 1e35 to int64 first was undefined behaviour).
  const pk::Value d = pk::load(from_hex("80027d284b03580100000061473ff00000000000004e474733426172c74d824e477ff8000000"
                                        "0000004e474008000000000000580100000062752e"))
                          .root;
  REQUIRE(d.as_dict().size() == 4);  // 3, 1.0, 1e35, nan
  CHECK(d.as_dict().items[0].first.as_int() == 3);
  CHECK(d.as_dict().items[0].second.as_string() == "b");
}

TEST_CASE("pickle: numpy scalars and arrays (numpy 1.x names, protocols 2 and 5)", "[io][pickle]") {
  const pk::Value root = pk::load(kNumpyProtocol2).root;
  CHECK(at(root, "best").is(pk::Kind::real));  // numpy.float64(0.25) becomes a plain float
  CHECK(at(root, "best").as_float() == 0.25);
  CHECK(at(root, "f32").as_float() == 1.5);
  CHECK(at(root, "flag").as_bool());

  const pk::NdArray& arr = at(root, "arr").as_ndarray();
  CHECK(arr.dtype.str() == "<i4");
  const Tensor a = arr.to_tensor();
  CHECK(a.dtype() == DType::i32);
  CHECK(a.shape() == Shape{2, 3});
  CHECK(testing::values(a) == std::vector<double>{0, 1, 2, 3, 4, 5});

  const pk::NdArray& farr = at(root, "farr").as_ndarray();  // Fortran order: column-major bytes
  CHECK(farr.fortran_order);
  const Tensor f = farr.to_tensor();
  CHECK(f.shape() == Shape{2, 3});
  CHECK(testing::values(f) == std::vector<double>{0, 1, 2, 3, 4, 5});

  const pk::Value root5 = pk::load(kProtocol5).root;
  CHECK(at(root5, "ba").as_bytes() == "xyz");                  // bytearray (BYTEARRAY8)
  const Tensor b = at(root5, "arr").as_ndarray().to_tensor();  // numpy.core.numeric._frombuffer
  CHECK(b.dtype() == DType::f32);
  CHECK(testing::values(b) == std::vector<double>{0, 1, 2});
}

TEST_CASE("pickle: a GLOBAL naming code-running callables rejects the pickle", "[io][pickle]") {
  const std::pair<const char*, const char*> dangerous[] = {{"os", "system"},
                                                           {"posix", "system"},
                                                           {"nt", "system"},
                                                           {"subprocess", "Popen"},
                                                           {"subprocess", "check_output"},
                                                           {"builtins", "eval"},
                                                           {"builtins", "exec"},
                                                           {"__builtin__", "eval"},
                                                           {"builtins", "compile"},
                                                           {"builtins", "open"},
                                                           {"builtins", "__import__"},
                                                           {"builtins", "getattr"},
                                                           {"builtins", "setattr"},
                                                           {"importlib", "import_module"},
                                                           {"pickle", "loads"},
                                                           {"_pickle", "loads"},
                                                           {"shutil", "rmtree"},
                                                           {"sys", "modules"},
                                                           {"torch", "os.system"},
                                                           {"numpy", "load"},
                                                           {"torch", "load"},
                                                           {"socket", "socket"},
                                                           {"ctypes", "CDLL"},
                                                           {"runpy", "run_path"},
                                                           {"operator", "attrgetter"},
                                                           {"types", "FunctionType"},
                                                           {"marshal", "loads"},
                                                           {"io", "open"},
                                                           {"posixpath", "os.system"},
                                                           {"mypkg.os", "system"},
                                                           {"builtins", "object.__subclasses__"}};
  for (const auto& [m, n] : dangerous) {
    INFO(m << "." << n);
    CHECK(pk::dangerous_global(m, n) != nullptr);
  }
  const std::pair<const char*, const char*> harmless[] = {{"collections", "OrderedDict"},
                                                          {"argparse", "Namespace"},
                                                          {"torch._utils", "_rebuild_tensor_v2"},
                                                          {"torch", "FloatStorage"},
                                                          {"numpy", "dtype"},
                                                          {"numpy.core.multiarray", "_reconstruct"},
                                                          {"builtins", "set"},
                                                          {"__builtin__", "set"},
                                                          {"pytorch_lightning.utilities.parsing", "AttributeDict"},
                                                          {"lightning.pytorch.utilities.types", "LRSchedulerConfig"},
                                                          {"functools", "partial"},
                                                          {"torch", "float32"},
                                                          {"copyreg", "_reconstructor"},
                                                          {"_codecs", "encode"}};
  for (const auto& [m, n] : harmless) {
    INFO(m << "." << n);
    CHECK(pk::dangerous_global(m, n) == nullptr);
  }

  // GLOBAL and STACK_GLOBAL: rejected when the opcode is read, with its name and byte offset
  const std::string e1 = error_of(
      "\x80\x02"
      "cos\nsystem\nX\x02\x00\x00\x00id\x85R."s);
  CHECK_THAT(e1, Catch::Contains("GLOBAL 'os.system'") && Catch::Contains("rejected") && Catch::Contains("at byte 2"));
  const std::string e2 = error_of(
      "\x80\x04\x8c\x08"
      "builtins\x8c\x07getattr\x93."s);
  CHECK_THAT(e2, Catch::Contains("builtins.getattr") && Catch::Contains("STACK_GLOBAL at byte 21"));
  // Even when nothing calls it, and even after harmless data
  CHECK_THAT(error_of("\x80\x02]q\x00(K\x01K\x02"
                      "csubprocess\nPopen\ne."s),
             Catch::Contains("subprocess.Popen"s));
}

TEST_CASE("pickle: tensors rebuilt from persistent ids, with checked geometry", "[io][pickle]") {
  const pk::Options opt = torch_options();
  const pk::Result r = pk::load(tensor_pickle(12, 2, int_tuple({2, 3}), int_tuple({1, 2})), opt);
  const pk::TensorRef& t = r.root.as_tensor();
  CHECK(t.storage->key == "0");
  CHECK(t.storage->type_name == "FloatStorage");
  CHECK(t.storage->numel == 12);
  CHECK(t.dtype() == DType::f32);
  CHECK(t.offset == 2);
  CHECK(t.shape == Shape{2, 3});
  CHECK(t.strides == Shape{1, 2});
  CHECK(r.placeholders.empty());

  // the last element reached: 2 + 1*1 + 2*2 = 7 < 8 fits; with numel 7 it does not
  CHECK_NOTHROW(pk::load(tensor_pickle(8, 2, int_tuple({2, 3}), int_tuple({1, 2})), opt));
  CHECK_THAT(error_of(tensor_pickle(7, 2, int_tuple({2, 3}), int_tuple({1, 2})), opt),
             Catch::Contains("reaches element 7 of storage '0', which has 7"));
  CHECK_THAT(error_of(tensor_pickle(8, 0, int_tuple({2, 3}), int_tuple({1})), opt),
             Catch::Contains("size has 2 dimensions, stride 1"));
  CHECK_THAT(error_of(tensor_pickle(8, 0, int_tuple({2}), int_tuple({-1})), opt),
             Catch::Contains("negative size or stride"));
  CHECK_THAT(error_of(tensor_pickle(8, -1, int_tuple({2}), int_tuple({1})), opt),
             Catch::Contains("negative storage offset"));
  CHECK_THAT(error_of(tensor_pickle(8, 0, int_tuple({0x7fffffff, 0x7fffffff, 0x7fffffff}),
                                    int_tuple({0x7fffffff, 0x7fffffff, 0x7fffffff})),
                      opt),
             Catch::Contains("overflows"));
  CHECK_THAT(
      error_of(tensor_pickle(8, 0, int_tuple({1, 1, 1, 1, 1, 1, 1, 1, 1}), int_tuple({1, 1, 1, 1, 1, 1, 1, 1, 1})),
               opt),
      Catch::Contains("9 dimensions"));
  // an empty view needs no element of the storage
  CHECK_NOTHROW(pk::load(tensor_pickle(0, 0, int_tuple({0, 5}), int_tuple({5, 1})), opt));
  // no persistent_load: a persistent id is an error
  CHECK_THAT(error_of(tensor_pickle(8, 0, int_tuple({2}), int_tuple({1}))), Catch::Contains("no persistent_load"));
  // a placeholder where the storage belongs
  CHECK_THAT(error_of("\x80\x02"
                      "ctorch._utils\n_rebuild_tensor_v2\n(cargparse\nNamespace\n)\x81K\x00(K\x01t(K\x01t\x89}t"
                      "R."s,
                      opt),
             Catch::Contains("argument 1 is placeholder for argparse.Namespace, not a storage"));
}

TEST_CASE("pickle: malformed input is an error naming the opcode and byte", "[io][pickle]") {
  CHECK_THAT(error_of("\x80\x02I1\n."s),
             Catch::Contains("unsupported opcode 0x49 ('I')"s) && Catch::Contains("at byte 2"s));
  CHECK_THAT(error_of("\x80\x06N."s), Catch::Contains("protocol 6"s));
  CHECK_THAT(error_of("\x80\x02N"s), Catch::Contains("ends without STOP"s));
  CHECK_THAT(error_of("\x80\x02X\xff\x00\x00\x00"
                      "abc"s),
             Catch::Contains("truncated"s) && Catch::Contains("BINUNICODE at byte 2"s));
  CHECK_THAT(error_of("\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xff."s), Catch::Contains("truncated"s));
  CHECK_THAT(error_of("\x80\x02."s), Catch::Contains("stack underflow"s));
  CHECK_THAT(error_of("\x80\x02h\x05."s), Catch::Contains("memo key 5 was never stored"s));
  CHECK_THAT(error_of("\x80\x02K\x01K\x02K\x03s."s), Catch::Contains("SETITEMS applied to int 1"s));
  CHECK_THAT(error_of("\x80\x02(K\x01."s), Catch::Contains("unclosed MARK"s));
  CHECK_THAT(error_of("\x80\x02K\x01)R."s), Catch::Contains("not a global"s));
  CHECK_THAT(error_of("\x80\x02"
                      "ccollections\nOrderedDict\nK\x01R."s),
             Catch::Contains("not a tuple"s));
  CHECK_THAT(error_of("\x80\x02"
                      "c_codecs\nencode\nX\x02\x00\x00\x00\xc4\x80X\x06\x00\x00\x00latin1\x86R."s),
             Catch::Contains("U+0100 does not fit"));
  CHECK_THAT(error_of("\x80\x02"
                      "c_codecs\nencode\nX\x02\x00\x00\x00\xc3\x28X\x06\x00\x00\x00latin1\x86R."s),
             Catch::Contains("not valid UTF-8 (byte 0 of 2)"));
  // a string the pickle never terminates
  CHECK_THAT(error_of("\x80\x02"
                      "cos"s),
             Catch::Contains("no end of line"s));
}

TEST_CASE("pickle: recursive and deeply nested structures and the limits", "[io][pickle]") {
  // l = []; l.append(l)
  CHECK_THAT(error_of("\x80\x02]q\x00h\x00"
                      "a."s),
             Catch::Contains("holds itself"s));
  // a cycle through a dict and a list that the root does not reach is dropped, not leaked (ASan checks)
  CHECK_NOTHROW(
      pk::load("\x80\x02]q\x00}q\x01K\x01h\x00s0h\x01"
               "a0N."s));
  // 1000 nested lists (the machine builds them without recursion; the depth check rejects them)
  const std::string deep = "\x80\x02" + std::string(1000, ']') + std::string(999, 'a') + "."s;
  CHECK_THAT(error_of(deep), Catch::Contains("deeper than 200 levels"));
  pk::Options roomy;
  roomy.limits.max_depth = 2000;
  CHECK_NOTHROW(pk::load(deep, roomy));
  // root = [a, [[a]]]: the walk meets a first at depth 2, but its longest chain is 4 deep
  const std::string dag =
      "\x80\x02]]q\x00"
      "a]]h\x00"
      "aaa."s;
  pk::Options shallow;
  shallow.limits.max_depth = 3;
  CHECK_THAT(error_of(dag, shallow), Catch::Contains("deeper than 3 levels"));
  shallow.limits.max_depth = 4;
  CHECK_NOTHROW(pk::load(dag, shallow));

  pk::Options small;
  small.limits.max_stack = 4;
  CHECK_THAT(error_of("\x80\x02K\x01K\x02K\x03K\x04K\x05."s, small), Catch::Contains("stack deeper than 4"s));
  small = {};
  small.limits.max_items = 3;
  CHECK_THAT(error_of("\x80\x02](K\x01K\x02K\x03K\x04"
                      "e."s,
                      small),
             Catch::Contains("more than 3 container items"s));
  small = {};
  small.limits.max_memo = 2;
  CHECK_THAT(error_of("\x80\x02Nq\x00q\x01q\x02."s, small), Catch::Contains("memo larger than 2"s));
  // memo GETs share, they do not copy: 100k references to one 64 KB string stay cheap
  std::string many = "\x80\x02X" + "\x00\x00\x01\x00"s + std::string(65536, 'x') + "q\x00]("s;
  for (int i = 0; i < 100000; ++i) many += "h\x00"s;
  many += "e.";
  const pk::Value v = pk::load(many).root;
  REQUIRE(v.as_sequence().size() == 100000);
  CHECK(v.as_sequence()[0].identity() == v.as_sequence()[99999].identity());
}

TEST_CASE("pickle: every truncation and random corruption of a real pickle is a clean error or a value",
          "[io][pickle]") {
  const auto zip = io::ZipArchive::open(testing::golden_dir() / "torch" / "lightning.ckpt");
  std::string pkl;
  for (const auto& e : zip.entries())
    if (e.name.ends_with("/data.pkl")) pkl = zip.read(e, 1 << 20);
  REQUIRE(pkl.size() > 1000);
  const pk::Options opt = torch_options();
  REQUIRE_NOTHROW(pk::load(pkl, opt));
  for (std::size_t n = 0; n < pkl.size(); ++n) {
    INFO("truncated to " << n << " bytes");
    CHECK_THROWS_AS(pk::load(std::string_view(pkl).substr(0, n), opt), error);
  }
  std::mt19937_64 rng(7);
  int loaded = 0, rejected = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bad = pkl;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    try {
      const pk::Result r = pk::load(bad, opt);
      (void)r.root.describe();
      ++loaded;
    } catch (const error&) {
      ++rejected;
    }
  }
  CHECK(loaded + rejected == 2000);
  CHECK(rejected > 0);
}

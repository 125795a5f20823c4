// llama2.c checkpoints (Karpathy's `run.c` format, "version 0" / legacy export) imported as a Hugging
// Face LlamaForCausalLM state dict, so the rest of molm only ever sees HF names.
//
//   auto m = io::load_llama2c("stories260K.bin");
//   m.config.hf_config();                      // config.json of the equivalent HF model
//   m.weights.at("model.layers.0.self_attn.q_proj.weight");
//
// File layout (little-endian): 7 × int32 header — dim, hidden_dim, n_layers, n_heads, n_kv_heads,
// vocab_size, seq_len; a negative vocab_size means the classifier is stored separately at the end
// (|vocab_size| is the vocabulary). Then float32 arrays, each stacked over layers, matrices row-major
// [out, in] (L = n_layers, C = dim, F = hidden_dim, V = vocab, D = C / n_heads, Ckv = n_kv_heads·D):
//   token_embedding [V, C], rms_att [L, C], wq [L, C, C], wk [L, Ckv, C], wv [L, Ckv, C], wo [L, C, C],
//   rms_ffn [L, C], w1 [L, F, C], w2 [L, C, F], w3 [L, F, C], rms_final [C],
//   freq_cis_real, freq_cis_imag [seq_len · D/2] each (old RoPE tables, unused: run.c skips them),
//   wcls [V, C] only when vocab_size < 0.
// The file must be exactly that long: a short or long file is rejected, never half-read.
//
// Names: w1 → mlp.gate_proj, w3 → mlp.up_proj, w2 → mlp.down_proj; lm_head.weight is the very tensor
// of model.embed_tokens.weight when the classifier is shared.
//
// Rotary layout: llama2.c rotates interleaved pairs (x[2i], x[2i+1]) of each head; HF rotates halves
// (x[i], x[i + D/2]) (rotate_half). HF's convert_llama_weights_to_hf.py reorders the rows of wq and wk
// so the two agree:
//   permute(w, H) = w.view(H, D/2, 2, in).transpose(1, 2).reshape(H·D, in)
//   i.e. new row h·D + j·D/2 + i = old row h·D + 2i + j    (j ∈ {0, 1}, i < D/2)
// applied with H = n_heads to wq and H = n_kv_heads to wk. Those two are copies; every other tensor is
// a zero-copy view into the (copy-on-write) mapping of the file.
//
// Not here: llama2.c's version 1/2 exports (magic "ak42"; rejected with a hint), quantized files,
// the tokenizer (tok*.bin).
#pragma once

#include "molm/io/mapped_file.hpp"
#include "molm/nn/state_dict.hpp"
#include "molm/ops/view.hpp"

#include <nlohmann/json.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>

namespace molm::io {

static_assert(std::endian::native == std::endian::little, "llama2.c files are little-endian; so must the host be");

/// The llama2.c header, validated, plus what follows from it.
struct Llama2cConfig {
  std::int64_t dim = 0;         ///< C: model width
  std::int64_t hidden_dim = 0;  ///< F: SwiGLU width
  std::int64_t n_layers = 0;    ///< L
  std::int64_t n_heads = 0;     ///< H: query heads
  std::int64_t n_kv_heads = 0;  ///< key/value heads (grouped-query attention when < H)
  std::int64_t vocab_size = 0;  ///< V (the absolute value of the header field)
  std::int64_t seq_len = 0;     ///< maximum context length
  bool shared_classifier = true;  ///< header vocab_size > 0: lm_head is the token embedding

  std::int64_t head_dim() const { return dim / n_heads; }
  std::int64_t kv_dim() const { return n_kv_heads * head_dim(); }

  /// The config.json of the equivalent HF LlamaForCausalLM (transformers 4.35 field names). llama2.c
  /// uses RMSNorm eps 1e-5 and RoPE base 10000.
  nlohmann::ordered_json hf_config() const {
    return {{"architectures", nlohmann::ordered_json::array({"LlamaForCausalLM"})},
            {"model_type", "llama"},
            {"hidden_size", dim},
            {"intermediate_size", hidden_dim},
            {"num_hidden_layers", n_layers},
            {"num_attention_heads", n_heads},
            {"num_key_value_heads", n_kv_heads},
            {"vocab_size", vocab_size},
            {"max_position_embeddings", seq_len},
            {"hidden_act", "silu"},
            {"rms_norm_eps", 1e-5},
            {"rope_theta", 10000.0},
            {"tie_word_embeddings", shared_classifier},
            {"attention_bias", false},
            {"bos_token_id", 1},
            {"eos_token_id", 2},
            {"torch_dtype", "float32"}};
  }
};

/// A llama2.c checkpoint as HF tensors (f32).
struct Llama2cModel {
  Llama2cConfig config;
  nn::StateDict weights;  ///< HF LlamaForCausalLM names, in HF's state_dict order
};

namespace detail {

inline constexpr std::int64_t kLlama2cHeaderBytes = 7 * 4;
inline constexpr std::uint32_t kLlama2cMagic = 0x616b3432;  // "ak42": llama2.c export versions 1 and 2

/// a·b, or nullopt-like failure through `ok` when it leaves int64.
inline std::int64_t checked_mul(std::int64_t a, std::int64_t b, bool& ok) {
  std::int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) ok = false;
  return r;
}
inline std::int64_t checked_add(std::int64_t a, std::int64_t b, bool& ok) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) ok = false;
  return r;
}

/// Validate the header fields alone (no file size yet). `where` names the file in errors.
inline Llama2cConfig parse_llama2c_header(const std::int32_t h[7], const std::string& where) {
  constexpr const char* C = "llama2c";
  MOLM_CHECK(static_cast<std::uint32_t>(h[0]) != kLlama2cMagic, C,
             "{}: starts with the magic 'ak42' of llama2.c export version 1/2; only the legacy (version 0) format is "
             "read (export with `python export.py --version 0`)",
             where);
  const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i)
    if (i != 5) MOLM_CHECK(h[i] > 0, C, "{}: header field {} = {} (byte offset {}) must be positive", where, names[i], h[i], 4 * i);
  MOLM_CHECK(h[5] != 0 && h[5] != std::numeric_limits<std::int32_t>::min(), C,
             "{}: header field vocab_size = {} (byte offset 20) is not a vocabulary size", where, h[5]);
  Llama2cConfig c;
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.vocab_size = h[5] > 0 ? h[5] : -static_cast<std::int64_t>(h[5]);
  c.shared_classifier = h[5] > 0;
  c.seq_len = h[6];
  MOLM_CHECK(c.dim % c.n_heads == 0, C, "{}: dim {} is not a multiple of n_heads {}", where, c.dim, c.n_heads);
  MOLM_CHECK(c.head_dim() % 2 == 0, C, "{}: head size {} (dim {} / n_heads {}) is odd; rotary pairs need it even",
             where, c.head_dim(), c.dim, c.n_heads);
  MOLM_CHECK(c.n_kv_heads <= c.n_heads && c.n_heads % c.n_kv_heads == 0, C,
             "{}: n_heads {} is not a multiple of n_kv_heads {}", where, c.n_heads, c.n_kv_heads);
  return c;
}

/// Float counts of the arrays in file order; `ok` turns false on int64 overflow.
struct Llama2cLayout {
  std::int64_t embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis, wcls, total;
};

inline Llama2cLayout llama2c_layout(const Llama2cConfig& c, bool& ok) {
  auto mul = [&](std::int64_t a, std::int64_t b) { return checked_mul(a, b, ok); };
  Llama2cLayout l{};
  const std::int64_t L = c.n_layers, C = c.dim, F = c.hidden_dim;
  l.embedding = mul(c.vocab_size, C);
  l.rms_att = mul(L, C);
  l.wq = mul(L, mul(C, C));
  l.wk = mul(L, mul(c.kv_dim(), C));
  l.wv = l.wk;
  l.wo = l.wq;
  l.rms_ffn = l.rms_att;
  l.w1 = mul(L, mul(F, C));
  l.w2 = l.w1;
  l.w3 = l.w1;
  l.rms_final = C;
  l.freq_cis = mul(2, mul(c.seq_len, c.head_dim() / 2));
  l.wcls = c.shared_classifier ? 0 : l.embedding;
  std::int64_t t = 0;
  for (std::int64_t n : {l.embedding, l.rms_att, l.wq, l.wk, l.wv, l.wo, l.rms_ffn, l.w1, l.w2, l.w3, l.rms_final,
                         l.freq_cis, l.wcls})
    t = checked_add(t, n, ok);
  l.total = t;
  return l;
}

/// permute(w, heads) of HF's conversion script: row h·D + j·D/2 + i ← row h·D + 2i + j. A new tensor.
inline Tensor permute_rotary_rows(const Tensor& w, std::int64_t heads) {
  const std::int64_t rows = w.shape()[0], cols = w.shape()[1], D = rows / heads;
  return w.view({heads, D / 2, 2, cols}).transpose(1, 2).contiguous().view({rows, cols});
}

}  // namespace detail

/// Read a llama2.c `.bin` (version 0). Throws molm::error naming the file and the problem when the
/// header is invalid or the file size differs from what the header implies.
inline Llama2cModel load_llama2c(const std::filesystem::path& path) {
  constexpr const char* C = "llama2c";
  const std::string where = path.string();
  auto file = MappedFile::open(path, C);
  const auto size = static_cast<std::int64_t>(file->size());
  MOLM_CHECK(size >= detail::kLlama2cHeaderBytes, C, "{}: {} bytes, too short for the 28-byte header", where, size);
  std::int32_t h[7];
  std::memcpy(h, file->data(), sizeof h);
  Llama2cModel out;
  Llama2cConfig& cfg = out.config = detail::parse_llama2c_header(h, where);

  // The whole size is checked before any tensor exists, so a hostile header can neither read past
  // the mapping nor make us allocate more than the file holds.
  bool ok = true;
  const detail::Llama2cLayout lay = detail::llama2c_layout(cfg, ok);
  const std::int64_t expected = ok ? detail::checked_add(detail::checked_mul(lay.total, 4, ok), 28, ok) : 0;
  MOLM_CHECK(ok, C,
             "{}: header (dim {}, hidden_dim {}, n_layers {}, n_heads {}, n_kv_heads {}, vocab_size {}, seq_len {}) "
             "implies more than 2^63 bytes; the file has {}",
             where, cfg.dim, cfg.hidden_dim, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.vocab_size, cfg.seq_len,
             size);
  MOLM_CHECK(size == expected, C,
             "{}: the header (dim {}, hidden_dim {}, n_layers {}, n_heads {}, n_kv_heads {}, vocab_size {}{}, seq_len "
             "{}) implies {} bytes but the file has {} ({} {} bytes)",
             where, cfg.dim, cfg.hidden_dim, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.vocab_size,
             cfg.shared_classifier ? " shared classifier" : " separate classifier", cfg.seq_len, expected, size,
             size < expected ? "missing" : "trailing", size < expected ? expected - size : size - expected);

  // One view per tensor, each with its own Storage (so an optimizer's version bump on one never
  // marks another as modified); each Storage keeps the mapping alive.
  std::int64_t cursor = detail::kLlama2cHeaderBytes;  // byte offset of the next array
  auto take = [&](std::int64_t floats) {
    const std::int64_t at = cursor;
    cursor += floats * 4;
    return at;
  };
  auto view = [&](std::int64_t byte_offset, const Shape& shape) {
    std::byte* p = file->data() + byte_offset;
    auto storage = Storage::wrap(p, static_cast<std::size_t>(shape.numel() * 4), kCPU, [keep = file](void*) {});
    return Tensor::from_storage(std::move(storage), DType::f32, shape, contiguous_strides(shape), 0);
  };
  const std::int64_t L = cfg.n_layers, Cd = cfg.dim, F = cfg.hidden_dim, Ckv = cfg.kv_dim();
  const std::int64_t embedding = take(lay.embedding), rms_att = take(lay.rms_att), wq = take(lay.wq),
                     wk = take(lay.wk), wv = take(lay.wv), wo = take(lay.wo), rms_ffn = take(lay.rms_ffn),
                     w1 = take(lay.w1), w2 = take(lay.w2), w3 = take(lay.w3), rms_final = take(lay.rms_final);
  take(lay.freq_cis);
  const std::int64_t wcls = take(lay.wcls);

  nn::StateDict& sd = out.weights;
  const Tensor embed = view(embedding, {cfg.vocab_size, Cd});
  sd.insert("model.embed_tokens.weight", embed);
  for (std::int64_t i = 0; i < L; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    auto layer = [&](std::int64_t base, const Shape& shape) { return view(base + i * shape.numel() * 4, shape); };
    sd.insert(p + "self_attn.q_proj.weight", detail::permute_rotary_rows(layer(wq, {Cd, Cd}), cfg.n_heads));
    sd.insert(p + "self_attn.k_proj.weight", detail::permute_rotary_rows(layer(wk, {Ckv, Cd}), cfg.n_kv_heads));
    sd.insert(p + "self_attn.v_proj.weight", layer(wv, {Ckv, Cd}));
    sd.insert(p + "self_attn.o_proj.weight", layer(wo, {Cd, Cd}));
    sd.insert(p + "mlp.gate_proj.weight", layer(w1, {F, Cd}));
    sd.insert(p + "mlp.up_proj.weight", layer(w3, {F, Cd}));
    sd.insert(p + "mlp.down_proj.weight", layer(w2, {Cd, F}));
    sd.insert(p + "input_layernorm.weight", layer(rms_att, {Cd}));
    sd.insert(p + "post_attention_layernorm.weight", layer(rms_ffn, {Cd}));
  }
  sd.insert("model.norm.weight", view(rms_final, {Cd}));
  sd.insert("lm_head.weight", cfg.shared_classifier ? embed : view(wcls, {cfg.vocab_size, Cd}));
  return out;
}

}  // namespace molm::io

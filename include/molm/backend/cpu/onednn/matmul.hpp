// oneDNN matmul: out = act(scale · (a·b + bias)) for f32×f32→f32 and bf16×bf16→{bf16, f32}, batched,
// with broadcast batch dimensions and strided (e.g. transposed) operands passed without copies.
//
// Primitives are cached by (shapes, strides, dtypes, bias, epilogue, thread count), so a repeated
// call with the same geometry costs one hash lookup plus the execution (about 1 µs over a raw
// oneDNN call).
//
// Layouts: oneDNN's fast kernels need every matrix row- or column-major with a leading dimension
// (batch strides are free). Anything else — a matrix strided along both axes — is copied to a dense
// buffer first, and so is an operand whose layout would only get oneDNN's reference kernel.
// A wide row-major f32 right operand (W in dx = dy·W, x in dW = dyᵀ·x) is reordered per call into
// the blocked layout oneDNN prefers: oneDNN 2.6's f32 kernel reads such a B at about half speed
// (1152×768·768×3072: 35 ms against 18 ms after a 1 ms reorder, on a 2-core AVX-512 Xeon).
#pragma once

#include "molm/backend/cpu/kernels/map.hpp"
#include "molm/backend/cpu/onednn/engine.hpp"
#include "molm/backend/cpu/onednn/primitive_cache.hpp"
#include "molm/core/threads.hpp"
#include "molm/tensor/tensor.hpp"

#include <cstring>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace molm::backend::onednn {

/// An elementwise function fused after the product (a oneDNN eltwise post-op).
enum class Activation : std::uint8_t { none, relu, gelu_erf, gelu_tanh, silu };

/// What happens to the product before it is stored: out = activation(scale · (a·b + bias)), oneDNN's
/// order (its output scale applies to the biased sum).
struct Epilogue {
  float scale = 1.0f;
  Activation activation = Activation::none;
};

/// The dtype combinations oneDNN runs for molm: f32×f32→f32, bf16×bf16→bf16 and bf16×bf16→f32.
inline bool supports_matmul(DType a, DType b, DType out) {
  if (a != b) return false;
  if (a == DType::f32) return out == DType::f32;
  return a == DType::bf16 && (out == DType::bf16 || out == DType::f32);
}

namespace matmul_detail {

struct MatmulPrimitive {
  dnnl::matmul primitive;
  dnnl::memory::desc a, b, bias, out, scratchpad;
  bool reference_impl = false;  // oneDNN fell back to its slow reference kernel for this layout
  /// When set, b is reordered from its plain layout (b) into b_packed before every execution.
  std::optional<dnnl::reorder> b_reorder;
  dnnl::memory::desc b_packed;
};

inline PrimitiveCache<MatmulPrimitive>& matmul_cache() {
  static PrimitiveCache<MatmulPrimitive> cache(512);
  return cache;
}

/// An operand's geometry as oneDNN is told it.
struct Layout {
  Shape dims, strides;
};

/// The layout of a matrix operand [..., R, C] for oneDNN, or nullopt when it is neither row- nor
/// column-major. Strides that carry no information (along an extent-1 dimension) get canonical
/// values, so equal layouts give equal cache keys and oneDNN recognises them as plain; a batch
/// dimension with stride 0 (an expanded tensor) becomes extent 1, which oneDNN broadcasts.
inline std::optional<Layout> gemm_layout(const Tensor& t) {
  Layout l{t.shape(), t.strides()};
  const int r = t.dim();
  const std::int64_t rows = l.dims[r - 2], cols = l.dims[r - 1];
  std::int64_t &sr = l.strides[r - 2], &sc = l.strides[r - 1];
  if (rows == 1 && cols == 1) {
    sr = sc = 1;
  } else if (rows == 1) {
    sr = sc == 1 ? cols : 1;
  } else if (cols == 1) {
    sc = sr == 1 ? rows : 1;
  }
  const bool row_major = sc == 1 && sr >= cols, col_major = sr == 1 && sc >= rows;
  if (!row_major && !col_major) return std::nullopt;
  std::int64_t span = 1 + (rows - 1) * sr + (cols - 1) * sc;  // elements one matrix reaches
  for (int d = r - 3; d >= 0; --d) {
    if (l.strides[d] == 0) l.dims[d] = 1;
    if (l.dims[d] == 1) l.strides[d] = span;
    span += (l.dims[d] - 1) * l.strides[d];
  }
  return l;
}

inline void append_layout(PrimitiveKey& key, const Layout& l) {
  key.insert(key.end(), l.dims.begin(), l.dims.end());
  key.insert(key.end(), l.strides.begin(), l.strides.end());
}

inline dnnl::algorithm eltwise_algorithm(Activation act) {
  switch (act) {
    case Activation::relu: return dnnl::algorithm::eltwise_relu;
    case Activation::gelu_erf: return dnnl::algorithm::eltwise_gelu_erf;
    case Activation::gelu_tanh: return dnnl::algorithm::eltwise_gelu_tanh;
    case Activation::silu: return dnnl::algorithm::eltwise_swish;  // x·σ(αx) with α = 1
    case Activation::none: break;
  }
  MOLM_THROW("matmul", "no oneDNN eltwise algorithm for activation {}", static_cast<int>(act));
}

/// Whether a right operand is worth reordering into oneDNN's own layout per call: a 2-D f32
/// row-major matrix wider than 2,048 columns (measured: from 2,560 on — BERT's 3,072, and up to
/// 25% at Llama's 4,096 and 11,008 — oneDNN 2.6 reads row-major B slowly; up to 2,048 it does not)
/// with M ≥ 512 rows to spread the pass over: it moves K·N floats once, about 60/M of the product's
/// time on the 2-core Xeon (5% at M = 1152; at M = 128 it cost 25% of a 128×4096·4096×4096 product).
inline bool pack_right_operand(const Layout& la, const Layout& lb, DType tb) {
  if (tb != DType::f32 || lb.dims.size() != 2) return false;
  const std::int64_t M = la.dims[la.dims.size() - 2], K = lb.dims[0], N = lb.dims[1];
  return lb.strides[1] == 1 && N > 2048 && K > 1 && M >= 512;
}

inline MatmulPrimitive make_matmul(const Layout& la, DType ta, const Layout& lb, DType tb, const Shape& out_shape,
                                   DType tout, DType tbias, bool has_bias, const Epilogue& ep) {
  MatmulPrimitive p;
  p.a = plain_desc(la.dims, ta, la.strides);
  p.b = plain_desc(lb.dims, tb, lb.strides);
  p.out = plain_desc(out_shape, tout, contiguous_strides(out_shape));
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (ep.scale != 1.0f) attr.set_output_scales(0, {ep.scale});
  if (ep.activation != Activation::none) {
    dnnl::post_ops ops;
    // alpha: relu's negative slope (0), swish's σ(αx) factor (1); the gelus ignore it.
    const float alpha = ep.activation == Activation::silu ? 1.0f : 0.0f;
    ops.append_eltwise(1.0f, eltwise_algorithm(ep.activation), alpha, 0.0f);
    attr.set_post_ops(ops);
  }
  if (has_bias) {
    Shape bias_shape;  // [1, ..., 1, N]: broadcast over batch and rows
    for (int i = 0; i + 1 < out_shape.size(); ++i) bias_shape.push_back(1);
    bias_shape.push_back(out_shape.back());
    p.bias = plain_desc(bias_shape, tbias, contiguous_strides(bias_shape));
  }
  try {
    const dnnl::matmul::desc desc =
        has_bias ? dnnl::matmul::desc(p.a, p.b, p.bias, p.out) : dnnl::matmul::desc(p.a, p.b, p.out);
    dnnl::matmul::primitive_desc pd(desc, attr, cpu_engine());
    if (pack_right_operand(la, lb, tb)) {
      const dnnl::memory::desc b_any(to_dims(lb.dims), to_dnnl(tb), dnnl::memory::format_tag::any);
      const dnnl::matmul::desc packed_desc =
          has_bias ? dnnl::matmul::desc(p.a, b_any, p.bias, p.out) : dnnl::matmul::desc(p.a, b_any, p.out);
      dnnl::matmul::primitive_desc packed_pd(packed_desc, attr, cpu_engine());
      if (packed_pd.weights_desc() != p.b) {
        dnnl::primitive_attr reorder_attr;
        reorder_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        const dnnl::reorder::primitive_desc rpd(cpu_engine(), p.b, cpu_engine(), packed_pd.weights_desc(), reorder_attr);
        if (rpd.scratchpad_desc().get_size() == 0) {  // (a plain-to-blocked reorder needs none)
          p.b_reorder = dnnl::reorder(rpd);
          p.b_packed = packed_pd.weights_desc();
          pd = packed_pd;
        }
      }
    }
    p.primitive = dnnl::matmul(pd);
    p.scratchpad = pd.scratchpad_desc();
    p.reference_impl = std::string_view(pd.impl_info_str()).substr(0, 3) == "ref";
  } catch (const dnnl::error& e) {
    MOLM_THROW("matmul", "oneDNN has no matmul for {} {} (strides {}) x {} {} (strides {}) -> {} {}: {}", name(ta),
               la.dims.str(), la.strides.str(), name(tb), lb.dims.str(), lb.strides.str(), name(tout), out_shape.str(),
               e.what());
  }
  return p;
}

/// Everything a primitive depends on. The thread count is in it because oneDNN splits the work
/// for the thread count it sees when it creates the primitive.
inline PrimitiveKey matmul_key(const Layout& la, DType ta, const Layout& lb, DType tb, const Tensor& out,
                               const Tensor& bias, const Epilogue& ep) {
  std::int32_t scale_bits;
  std::memcpy(&scale_bits, &ep.scale, sizeof scale_bits);
  PrimitiveKey key{out.dim(),
                   static_cast<std::int64_t>(ta),
                   static_cast<std::int64_t>(tb),
                   static_cast<std::int64_t>(out.dtype()),
                   bias.defined() ? static_cast<std::int64_t>(bias.dtype()) : -1,
                   static_cast<std::int64_t>(ep.activation),
                   scale_bits,
                   num_threads()};
  key.reserve(key.size() + 5 * static_cast<std::size_t>(out.dim()));
  append_layout(key, la);
  append_layout(key, lb);
  key.insert(key.end(), out.shape().begin(), out.shape().end());
  return key;
}

/// The elementwise function of a copy or a dtype conversion.
inline constexpr auto identity = [](auto v) { return v; };

/// A dense copy of t (same dtype), through the optimised elementwise kernel.
inline Tensor dense_copy(const Tensor& t) {
  Tensor c = Tensor::empty(t.shape(), t.dtype());
  visit_floating(t.dtype(), "matmul", [&](auto tag) {
    using T = typename decltype(tag)::type;
    map_forward<T, T>(cpu_t{}, c, identity, t);
  });
  return c;
}

}  // namespace matmul_detail

/// out = activation(scale · (a·b + bias)) through a cached oneDNN primitive.
///   a [..., M, K], b [..., K, N], out [..., M, N] (dense), all of the same rank; each batch extent of a
///   and b equals out's or is 1 (broadcast); bias is undefined or [N], of a's dtype or f32.
/// Shapes are the caller's contract (ops/linalg.hpp checks user input); this only checks dtypes.
inline void matmul(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out, const Epilogue& ep = {}) {
  MOLM_CHECK(supports_matmul(a.dtype(), b.dtype(), out.dtype()), "matmul", "oneDNN path has no {} x {} -> {}",
             name(a.dtype()), name(b.dtype()), name(out.dtype()));
  MOLM_CHECK(a.dim() == out.dim() && b.dim() == out.dim() && out.dim() >= 2, "matmul",
             "operands {} and {} and output {} must have one rank >= 2", a.shape().str(), b.shape().str(),
             out.shape().str());
  MOLM_CHECK(out.is_contiguous(), "matmul", "output {} must be dense", out.shape().str());
  const bool has_bias = bias.defined();
  if (has_bias) {
    MOLM_CHECK(bias.dim() == 1 && bias.shape()[0] == out.shape().back(), "matmul", "bias {} does not match output {}",
               bias.shape().str(), out.shape().str());
    MOLM_CHECK(bias.dtype() == a.dtype() || bias.dtype() == DType::f32, "matmul", "bias dtype {} with {} inputs",
               name(bias.dtype()), name(a.dtype()));
    if (bias.strides()[0] != 1 && bias.shape()[0] > 1) return matmul(a, b, matmul_detail::dense_copy(bias), out, ep);
  }
  std::optional<matmul_detail::Layout> la = matmul_detail::gemm_layout(a), lb = matmul_detail::gemm_layout(b);
  if (!la) return matmul(matmul_detail::dense_copy(a), b, bias, out, ep);
  if (!lb) return matmul(a, matmul_detail::dense_copy(b), bias, out, ep);
  // oneDNN broadcasts a batch dim only from 1 to the other operand's extent: where neither operand
  // has the extent, an expanded one is described as it is (stride 0) and takes the copying path below.
  for (int d = 0; d + 2 < out.dim(); ++d)
    if (la->dims[d] == 1 && lb->dims[d] == 1 && out.shape()[d] != 1) {
      matmul_detail::Layout& l = a.shape()[d] != 1 ? *la : *lb;
      l.dims[d] = out.shape()[d];
      l.strides[d] = 0;
    }

  const PrimitiveKey key = matmul_detail::matmul_key(*la, a.dtype(), *lb, b.dtype(), out, bias, ep);
  auto entry = matmul_detail::matmul_cache().get(key, [&] {
    return matmul_detail::make_matmul(*la, a.dtype(), *lb, b.dtype(), out.shape(), out.dtype(),
                                      has_bias ? bias.dtype() : out.dtype(), has_bias, ep);
  });
  // oneDNN's reference kernel is orders of magnitude slower than a copy plus a fast kernel.
  if (entry->reference_impl && !(a.is_contiguous() && b.is_contiguous()))
    return matmul(a.is_contiguous() ? a : matmul_detail::dense_copy(a),
                  b.is_contiguous() ? b : matmul_detail::dense_copy(b), bias, out, ep);

  const dnnl::engine& eng = cpu_engine();
  dnnl::memory ma(entry->a, eng, a.raw_data()), mb(entry->b, eng, b.raw_data()), mo(entry->out, eng, out.raw_data());
  // One scratch buffer of this thread holds the reordered b (when there is one) and then the
  // matmul's scratchpad, each 64-byte aligned.
  const std::size_t packed_bytes = entry->b_reorder ? (entry->b_packed.get_size() + 63) / 64 * 64 : 0;
  const std::size_t scratch_bytes = entry->scratchpad.get_size();
  auto* scratch = static_cast<char*>(packed_bytes + scratch_bytes ? scratchpad(packed_bytes + scratch_bytes) : nullptr);
  if (entry->b_reorder) {
    dnnl::memory packed(entry->b_packed, eng, scratch);
    entry->b_reorder->execute(cpu_stream(), {{DNNL_ARG_FROM, mb}, {DNNL_ARG_TO, packed}});
    mb = packed;
  }
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mo}};
  if (has_bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(entry->bias, eng, bias.raw_data()));
  if (scratch_bytes)
    args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(entry->scratchpad, eng, scratch + packed_bytes));
  entry->primitive.execute(cpu_stream(), args);
}

/// Counters of the matmul primitive cache (tests check that a repeated call is a hit).
inline CacheStats matmul_cache_stats() { return matmul_detail::matmul_cache().stats(); }
inline void clear_matmul_cache() { matmul_detail::matmul_cache().clear(); }
/// The most primitives kept (least recently used are dropped first); default 512.
inline void set_matmul_cache_capacity(std::size_t n) { matmul_detail::matmul_cache().set_capacity(n); }

}  // namespace molm::backend::onednn

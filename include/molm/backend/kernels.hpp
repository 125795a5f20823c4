// The kernel interface: every kernel an op may ask a backend for, with its C++ signature.
//
// One struct per kernel: `name` (for errors and listings) and `Fn`, the function type a backend
// registers (backend/registry.hpp). Kernels write into outputs the op has allocated; they never
// allocate results, record autograd history or check arguments the op has already checked. The
// op picks the dtype the table is keyed on (written after each signature); a kernel whose operands
// have a second element type (an index tensor, a parameter dtype) visits it itself.
//
// Adding an op that needs a new kernel: add its struct here and to AllKernels, implement it in each
// backend (backend/cpu/register.hpp registers the CPU and reference versions), call it from the op
// with backend::call<K>(device, dtype, args...). See docs/architecture.md, "The dispatch seam".
#pragma once

#include "molm/backend/registry.hpp"
#include "molm/tensor/tensor.hpp"

#include <cstdint>
#include <tuple>
#include <vector>

namespace molm::backend {

/// Values per scale of the int8 weight format (QuantizeQ8, LinearQ8).
inline constexpr std::int64_t kQ8BlockSize = 32;

// ---- descriptions shared by the kernels of one op -----------------------------------------------

/// Elementwise functions of one tensor (and a scalar `s` where named). UnaryBackward exists for the
/// functions from exp on (the ops compose the scalar ones' gradients) and gets dy and the saved
/// tensor: the output y for exp, sqrt, rsqrt, tanh, sigmoid; the input x otherwise.
enum class UnaryOp : std::uint8_t {
  neg, exp, log, sqrt, rsqrt, pow /* x^s */, tanh, sigmoid, relu, silu, gelu /* erf */, gelu_tanh,
  add_scalar /* x + s */, mul_scalar /* x·s */, rdiv_scalar /* s / x */
};
/// Elementwise functions of two broadcast tensors; comparisons write bool.
enum class BinaryOp : std::uint8_t { add, sub, mul, div, eq, ne, lt, le, gt, ge };

/// One attention call as the kernels see it. Tensors may have any strides.
///   q [B,H,Lq,D], k [B,H,Lk,D], v [B,H,Lk,Dv]
///   bias: undefined, or broadcastable to [B,H,Lq,Lk]; bias_strides are its strides aligned to
///         that shape (0 on broadcast dimensions)
///   key_padding_mask: undefined, or bool [B,Lk], true = padding
///   causal: key j is hidden from query i when j > i + (Lk - Lq) (queries are the last Lq positions)
struct AttentionProblem {
  Tensor q, k, v, bias, key_padding_mask;
  Shape bias_strides;
  bool causal = false;
  double scale = 1.0;
  std::int64_t B = 0, H = 0, Lq = 0, Lk = 0, D = 0, Dv = 0;

  /// True where the masks (not the bias) hide key j from query i of batch b.
  bool masked(std::int64_t b, std::int64_t i, std::int64_t j) const {
    if (causal && j > i + (Lk - Lq)) return true;
    if (key_padding_mask.defined()) {
      const Shape& s = key_padding_mask.strides();
      return key_padding_mask.data<bool>()[b * s[0] + j * s[1]];
    }
    return false;
  }
  /// Offset of bias[b,h,i,j] (after broadcasting).
  std::int64_t bias_offset(std::int64_t b, std::int64_t h, std::int64_t i, std::int64_t j) const {
    return b * bias_strides[0] + h * bias_strides[1] + i * bias_strides[2] + j * bias_strides[3];
  }
};

/// The Gaussian basis call as the kernels see it: every tensor dense (contiguous).
///   dist [P] (floating, TD), edge_type [P] (i64, each in [0,E)), means/stds [K], mul/bias [E] (TP)
struct GaussianBasisProblem {
  Tensor dist, edge_type, means, stds, mul, bias;
  std::int64_t pairs = 0, K = 0, E = 0;
};

/// Gradients to fill, dense; an undefined one is not computed.
struct GaussianBasisGrads {
  Tensor dist, means, stds, mul, bias;
};

// ---- the kernels ---------------------------------------------------------------------------------

#define MOLM_KERNEL(Name, str, ...)       \
  struct Name {                           \
    static constexpr const char* name = str; \
    using Fn = void(__VA_ARGS__);         \
  }

// Tensor core. Keyed on the destination's dtype; Copy converts from any source dtype, broadcasting
// the source to the destination's shape.
MOLM_KERNEL(Fill, "fill", const Tensor& out, double value);
MOLM_KERNEL(Copy, "copy", const Tensor& src, const Tensor& dst);

// Elementwise (keyed on the first input's dtype). Inputs broadcast to the output's shape.
MOLM_KERNEL(Unary, "unary", UnaryOp op, const Tensor& x, const Tensor& y, double s);
MOLM_KERNEL(UnaryBackward, "unary_backward", UnaryOp op, const Tensor& dy, const Tensor& saved, const Tensor& dx,
            double s);
MOLM_KERNEL(Binary, "binary", BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
/// out = cond ? a : b (cond bool). Keyed on a's dtype.
MOLM_KERNEL(Where, "where", const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);
/// out = (mask == when) ? value : x. Keyed on x's dtype.
MOLM_KERNEL(MaskedFill, "masked_fill", const Tensor& x, const Tensor& mask, bool when, double value,
            const Tensor& out);

// Reductions over the dims flagged in `reduced` (x's rank); outputs are dense with x's rank, reduced
// dims of extent 1. Keyed on x's dtype.
/// out = scale · Σ x (accumulated in double for f32/f64, float for the 16-bit floats, int64 for integers).
MOLM_KERNEL(Sum, "sum", const Tensor& x, const std::vector<bool>& reduced, double scale, const Tensor& out);
/// values = max x (NaN wins); index (when defined, i64) = position of the first maximum within the reduced dims.
MOLM_KERNEL(Max, "max", const Tensor& x, const std::vector<bool>& reduced, const Tensor& values,
            const Tensor& index);
/// dx (zeroed, x's shape) [.., index[..], ..] = dy along `dim`; dy and index dense with dim of extent 1.
MOLM_KERNEL(MaxBackward, "max_backward", const Tensor& dy, const Tensor& index, int dim, const Tensor& dx);

// Linear algebra. out = a·b (+ bias), batch dims broadcast; keyed on a's dtype (out may be f32 for bf16 a, b).
MOLM_KERNEL(Matmul, "matmul", const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out);

// Fused ops (keyed on the main input's dtype).
MOLM_KERNEL(SoftmaxForward, "softmax_forward", const Tensor& x, const Tensor& mask, const Tensor& y, bool log);
MOLM_KERNEL(SoftmaxBackward, "softmax_backward", const Tensor& y, const Tensor& dy, const Tensor& dx, bool log);
MOLM_KERNEL(LayerNormForward, "layer_norm_forward", const Tensor& x, const Tensor& w, const Tensor& b, double eps,
            const Tensor& y, const Tensor& mean, const Tensor& rstd);
MOLM_KERNEL(LayerNormBackward, "layer_norm_backward", const Tensor& dy, const Tensor& x, const Tensor& w,
            const Tensor& mean, const Tensor& rstd, const Tensor& dx, const Tensor& dw, const Tensor& db);
MOLM_KERNEL(RmsNormForward, "rms_norm_forward", const Tensor& x, const Tensor& w, double eps, const Tensor& y,
            const Tensor& rstd);
MOLM_KERNEL(RmsNormBackward, "rms_norm_backward", const Tensor& dy, const Tensor& x, const Tensor& w,
            const Tensor& rstd, const Tensor& dx, const Tensor& dw);
MOLM_KERNEL(AttentionForward, "attention_forward", const AttentionProblem& p, const Tensor& out,
            const Tensor& scores, const Tensor& probs);
MOLM_KERNEL(AttentionBackward, "attention_backward", const AttentionProblem& p, const Tensor& probs,
            const Tensor& dout, const Tensor& dscores, const Tensor& dq, const Tensor& dk, const Tensor& dv,
            const Tensor& dlogits);
/// Keyed on dist's dtype; the parameters' dtype is visited inside.
MOLM_KERNEL(GaussianBasisForward, "gaussian_basis_forward", const GaussianBasisProblem& p, const Tensor& out);
MOLM_KERNEL(GaussianBasisBackward, "gaussian_basis_backward", const GaussianBasisProblem& p, const Tensor& dout,
            const GaussianBasisGrads& grads);
/// Keyed on x's (dy's) dtype; the index dtype (i64/i32) is visited inside. dx_acc is in acc_t of dy.
MOLM_KERNEL(GatherForward, "gather_forward", const Tensor& x, int dim, const Tensor& index, const Tensor& out);
MOLM_KERNEL(GatherBackward, "gather_backward", const Tensor& dy, int dim, const Tensor& index, std::int64_t skip,
            const Tensor& dx_acc);
MOLM_KERNEL(Cat, "cat", const std::vector<Tensor>& inputs, int dim, const Tensor& out);
MOLM_KERNEL(Dropout, "dropout", const Tensor& x, std::uint64_t seed, std::uint64_t offset, double keep_prob,
            double scale, const Tensor& out);
MOLM_KERNEL(RotaryForward, "rotary_forward", const Tensor& x, const Tensor& cos, const Tensor& sin,
            const Tensor& out);
MOLM_KERNEL(RotaryBackward, "rotary_backward", const Tensor& x, const Tensor& cos, const Tensor& sin,
            const Tensor& out);
/// Keyed on the logits' dtype; the target dtype (i64/i32) is visited inside.
MOLM_KERNEL(CrossEntropyForward, "cross_entropy_forward", const Tensor& logits, const Tensor& targets,
            std::int64_t ignore_index, double label_smoothing, const Tensor& row_loss, const Tensor& lse);
MOLM_KERNEL(CrossEntropyBackward, "cross_entropy_backward", const Tensor& logits, const Tensor& targets,
            const Tensor& lse, const Tensor& dloss, double scale, std::int64_t ignore_index, double label_smoothing,
            const Tensor& dx);

/// Weight-only int8 (cpu/kernels/quantized.hpp): blocks of kQ8BlockSize values per scale. Keyed on w's dtype: q u8 [N, K], scales f32 [N, ceil(K/32)].
MOLM_KERNEL(QuantizeQ8, "quantize_q8", const Tensor& w, const Tensor& q, const Tensor& scales);
/// Keyed on x's dtype (f32, bf16): out [M, N] = x [M, K] · dequant(q, scales)ᵀ + bias (f32 [N] or undefined).
MOLM_KERNEL(LinearQ8, "linear_q8", const Tensor& x, const Tensor& q, const Tensor& scales, const Tensor& bias,
            const Tensor& out);

#undef MOLM_KERNEL

/// Every kernel, for code that walks them all (listings, test backends that wrap another backend).
using AllKernels =
    std::tuple<Fill, Copy, Unary, UnaryBackward, Binary, Where, MaskedFill, Sum, Max, MaxBackward, Matmul,
               SoftmaxForward, SoftmaxBackward, LayerNormForward, LayerNormBackward, RmsNormForward, RmsNormBackward,
               AttentionForward, AttentionBackward, GaussianBasisForward, GaussianBasisBackward, GatherForward,
               GatherBackward, Cat, Dropout, RotaryForward, RotaryBackward, CrossEntropyForward,
               CrossEntropyBackward, QuantizeQ8, LinearQ8>;

/// f.template operator()<K>() for every kernel K.
template <class F> void for_each_kernel(F&& f) {
  [&]<class... K>(std::tuple<K...>*) { (f.template operator()<K>(), ...); }(static_cast<AllKernels*>(nullptr));
}

/// How many (kernel, dtype) entries backend `b` implements itself.
inline int kernel_count(BackendId b) {
  int n = 0;
  for_each_kernel([&]<class K>() {
    for (int d = 0; d < kNumDTypes; ++d) n += kernel_of<K>(b, static_cast<DType>(d)) != nullptr;
  });
  return n;
}

}  // namespace molm::backend

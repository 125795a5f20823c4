// LoRA (Hu et al. 2021) as Hugging Face PEFT 0.6.2 applies it to Linear layers, with PEFT's names,
// initialisation, dtypes and adapter files, so adapters move between molm and PEFT unchanged.
//
//   y = W x + b + scaling · B (A (dropout(x))),   A [R, in], B [out, R], scaling = alpha / R
//
//   Generator gen(0);
//   lora::wrap(model, {"q_proj", "v_proj"}, /*r=*/8, /*alpha=*/32, /*dropout=*/0.1, gen);
//   ... train: only lora_A / lora_B require grad ...
//   lora::save_adapter(model, "out/");             // adapter_model.safetensors + adapter_config.json
//   lora::load_adapter(other, "out/", gen);        // wraps `other` from the config, then loads
//   lora::merge(model);                            // W += scaling·B·A: inference without the detour
//
// The adapter files (save_adapter, load_adapter, read_adapter_config, adapter_config_json,
// SaveOptions, kWeightsFile, kConfigFile) are in io/lora_file.hpp, same namespace: they need io/,
// which is above nn/ in the layer order of docs/architecture.md.
//
// Names (reference-model.md §9.3 shows them in 3D-MoLM's checkpoints):
//   - A wrapped Linear at path P gets children exactly where PEFT's LoRA Linear has them:
//     P.lora_dropout.default (a Dropout), P.lora_A.default (Linear in→R, no bias),
//     P.lora_B.default (Linear R→out, no bias). The base weight keeps its name P.weight (PEFT 0.6
//     has no "base_layer"). So a molm model's state_dict() is PEFT's get_peft_model(model)
//     .state_dict() with the leading "base_model.model." removed, in the same order.
//   - The adapter file (PEFT's get_peft_model_state_dict) names tensors
//     "base_model.model.P.lora_A.weight": the prefix added, the adapter name "default" removed.
//   - Target matching is PEFT's rule for a list: module name N matches target t when N == t or N
//     ends with "." + t. Regex strings and layers_to_transform are not supported.
//
// Choices copied from PEFT 0.6.2: A ~ kaiming_uniform_(a = √5) = U(±1/√in), B = 0; the LoRA weights
// are f32 whatever the base dtype (a bf16 Llama gets f32 adapters), x is cast to their dtype before
// the dropout, and the update is added to the base output in the wider of the two dtypes, then
// rounded to the base dtype (PEFT's in-place `result += ...`). wrap() freezes every parameter whose
// name lacks "lora_", as PEFT's _mark_only_adapters_as_trainable does.
// Module::to(dtype) converts the adapters too; to keep PEFT's f32 adapters on a bf16 model, convert
// the base model first and wrap it afterwards.
// Different from PEFT on purpose: merging an already merged layer does nothing (PEFT would add ΔW a
// second time), and loading is strict (PEFT loads adapter files non-strictly).
// Not here: several adapters per layer, bias = "all"/"lora_only", modules_to_save, LoRA on
// Embedding/Conv layers, rank_pattern/alpha_pattern, rsLoRA/DoRA (later PEFT versions).
#pragma once

#include "molm/nn/dropout.hpp"
#include "molm/nn/linear.hpp"
#include "molm/nn/state_dict.hpp"

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace molm::nn::lora {

/// PEFT's name for the only adapter molm keeps per layer ("...lora_A.default.weight").
inline constexpr const char* kAdapterName = "default";
/// What PEFT puts in front of the wrapped model's names ("base_model.model.<path>").
inline constexpr const char* kPeftPrefix = "base_model.model.";

/// The LoRA settings (PEFT's LoraConfig fields that shape the adapter).
struct Config {
  int r = 8;                                ///< R, the rank
  double alpha = 8;                         ///< lora_alpha; the update is scaled by alpha / r
  double dropout = 0.0;                     ///< lora_dropout on the adapter input, training only
  std::vector<std::string> target_modules;  ///< module names or name suffixes (PEFT's list rule)
  DType dtype = DType::f32;                 ///< dtype of lora_A / lora_B (PEFT 0.6: always f32)
};

namespace detail {
/// Of two floating dtypes, the one that holds both exactly enough (bf16 with f16 → f32).
inline DType wider(DType a, DType b) {
  if (a == b) return a;
  if (itemsize(a) != itemsize(b)) return itemsize(a) > itemsize(b) ? a : b;
  return DType::f32;
}
/// a + b formed in the wider dtype and rounded to a's (PEFT's in-place `a += b`).
inline Tensor add_rounded_to(const Tensor& a, const Tensor& b) {
  if (a.dtype() == b.dtype()) return add(a, b);
  const DType wide = wider(a.dtype(), b.dtype());
  return add(a.to(wide), b.to(wide)).to(a.dtype());
}
inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
/// True for the adapters' own modules ("q_proj.lora_A.default"): a path component starts with "lora_".
inline bool inside_adapter(std::string_view name) {
  for (std::size_t start = 0; start <= name.size();) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    if (name.substr(start, dot - start).starts_with("lora_")) return true;
    start = dot + 1;
  }
  return false;
}
}  // namespace detail

/// One LoRA adapter on one Linear: holds lora_A, lora_B and the dropout (which are also registered
/// as the Linear's children, so they are trained, saved and switched to eval like any module).
class Adapter final : public LinearAdapter {
 public:
  Adapter(std::shared_ptr<Linear> lora_A, std::shared_ptr<Linear> lora_B, std::shared_ptr<Dropout> dropout, int r,
          double alpha, std::vector<std::string> target_modules)
      : A_(std::move(lora_A)), B_(std::move(lora_B)), dropout_(std::move(dropout)), r_(r), alpha_(alpha),
        scaling_(alpha / r), targets_(std::move(target_modules)) {}

  /// y + scaling · B(A(dropout(x))); just y once merged (ΔW is then inside the weight).
  Tensor forward(const Tensor& x, const Tensor& y) const override {
    if (merged_) return y;
    const Tensor h = dropout_->forward(x.to(dtype()));  // PEFT casts x to the adapter dtype first
    return detail::add_rounded_to(y, mul(B_->forward(A_->forward(h)), scaling_));
  }

  /// ΔW = scaling · B·A [out, in] in the adapter dtype, outside autograd.
  Tensor delta_weight() const {
    no_grad guard;
    return mul(matmul(B_->weight, A_->weight), scaling_);
  }

  /// W ← W + ΔW on `base` (the layer this adapter is attached to); false if already merged.
  bool merge_into(Linear& base) { return fold(base, true); }
  /// W ← W − ΔW; false if not merged.
  bool unmerge_from(Linear& base) { return fold(base, false); }

  const std::shared_ptr<Linear>& lora_A() const { return A_; }  ///< weight [R, in]
  const std::shared_ptr<Linear>& lora_B() const { return B_; }  ///< weight [out, R]
  const std::shared_ptr<Dropout>& dropout() const { return dropout_; }
  int r() const { return r_; }
  double alpha() const { return alpha_; }
  double scaling() const { return scaling_; }
  bool merged() const { return merged_; }
  DType dtype() const { return A_->weight.dtype(); }
  /// The target list given to wrap() (written to adapter_config.json).
  const std::vector<std::string>& target_modules() const { return targets_; }

 private:
  bool fold(Linear& base, bool in) {
    MOLM_CHECK(base.adapter.get() == this, "lora", "merge/unmerge on a layer this adapter is not attached to");
    if (merged_ == in) return false;
    const Tensor delta = delta_weight();
    no_grad guard;
    // Same rounding as PEFT's `weight.data += delta`: summed in the wider dtype, rounded to W's.
    base.weight.copy_(detail::add_rounded_to(base.weight, in ? delta : neg(delta)));
    merged_ = in;
    return true;
  }

  std::shared_ptr<Linear> A_, B_;
  std::shared_ptr<Dropout> dropout_;
  int r_;
  double alpha_, scaling_;
  std::vector<std::string> targets_;
  bool merged_ = false;
};

/// PEFT's list rule: `name` matches target t when name == t or name ends with "." + t.
inline bool matches_target(std::string_view name, const std::vector<std::string>& targets) {
  for (const auto& t : targets)
    if (name == t || detail::ends_with(name, "." + t)) return true;
  return false;
}

/// The LoRA adapter on `layer`, or nullptr.
inline Adapter* adapter_of(const Linear& layer) { return dynamic_cast<Adapter*>(layer.adapter.get()); }

/// Every wrapped Linear with its dotted name, in module order.
inline std::vector<std::pair<std::string, Linear*>> wrapped_layers(Module& model) {
  std::vector<std::pair<std::string, Linear*>> out;
  for (auto& [name, m] : model.named_modules())
    if (auto* lin = dynamic_cast<Linear*>(m); lin && adapter_of(*lin)) out.emplace_back(name, lin);
  return out;
}

/// Attach a LoRA adapter to every Linear whose name matches `config.target_modules`, and freeze every
/// parameter whose name lacks "lora_" (the whole model, as PEFT does). A = U(±1/√in), B = 0, so the
/// model's output is unchanged until B trains. `gen` draws A and the dropout masks; it must outlive
/// the model. Returns how many layers were wrapped. Throws, changing nothing, when no module matches,
/// when a matching module is not a Linear, or when one already has an adapter.
inline std::size_t wrap(Module& model, const Config& config, Generator& gen) {
  constexpr const char* C = "lora";
  MOLM_CHECK(config.r > 0, C, "the rank r must be positive, got {}", config.r);
  MOLM_CHECK(config.dropout >= 0.0 && config.dropout < 1.0, C, "lora_dropout must lie in [0, 1), got {}",
             config.dropout);
  MOLM_CHECK(is_floating(config.dtype), C, "the LoRA weights need a floating dtype, got {}", name(config.dtype));
  MOLM_CHECK(!config.target_modules.empty(), C, "no target_modules given (e.g. {{\"q_proj\", \"v_proj\"}})");

  // Find every target before changing anything, so a bad match leaves the model as it was.
  std::vector<std::pair<std::string, Linear*>> targets;
  std::vector<std::string> names;
  for (auto& [name, m] : model.named_modules()) {
    names.push_back(name);
    // Never wrap the adapters' own Linears (a target such as "default" would match them).
    if (detail::inside_adapter(name) || !matches_target(name, config.target_modules)) continue;
    auto* lin = dynamic_cast<Linear*>(m);
    MOLM_CHECK(lin, C, "module '{}' matches target_modules but is not a Linear; LoRA wraps Linear layers only",
               name);
    MOLM_CHECK(!lin->adapter, C, "module '{}' already has an adapter; molm keeps one adapter per layer", name);
    targets.emplace_back(name, lin);
  }
  if (targets.empty()) {
    const std::size_t shown = std::min<std::size_t>(names.size(), 12);
    MOLM_THROW(C, "target_modules [{}] match no module of the model; its modules include: {}{}",
               fmt::join(config.target_modules, ", "),
               fmt::join(std::vector<std::string>(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(shown)), ", "),
               shown < names.size() ? ", ..." : "");
  }

  for (auto& target : targets) {
    Linear* lin = target.second;  // (a named copy: clang 14 cannot capture a structured binding)
    // PEFT's LoRA Linear holds three ModuleDicts keyed by adapter name, registered in this order.
    auto dict = [&](const char* field) { return lin->register_module(field, std::make_shared<Module>()); };
    auto dropout = dict("lora_dropout")->register_module(kAdapterName, std::make_shared<Dropout>(config.dropout, gen));
    // Linear's own init is PyTorch's kaiming_uniform_(a = √5): U(±1/√in), PEFT's init of A.
    auto A = dict("lora_A")->register_module(
        kAdapterName, std::make_shared<Linear>(lin->in_features(), config.r, gen, false, config.dtype));
    auto B = dict("lora_B")->register_module(
        kAdapterName, std::make_shared<Linear>(config.r, lin->out_features(), gen, false, config.dtype));
    {
      no_grad guard;
      B->weight.fill_(0.0);
    }
    lin->adapter = std::make_shared<Adapter>(A, B, dropout, config.r, config.alpha, config.target_modules);
  }
  for (auto& [name, t] : model.named_parameters())
    if (name.find("lora_") == std::string::npos) t.set_requires_grad(false);
  return targets.size();
}

/// wrap() with the settings spelled out: lora::wrap(model, {"q_proj", "v_proj"}, 8, 32, 0.1, gen).
inline std::size_t wrap(Module& model, const std::vector<std::string>& target_modules, int r, double alpha,
                        double dropout, Generator& gen, DType dtype = DType::f32) {
  return wrap(model, Config{r, alpha, dropout, target_modules, dtype}, gen);
}

/// The settings of the model's adapters (r, alpha, dropout, dtype from the layers; target_modules the
/// union of the lists given to wrap). Throws if the model has no adapter or if layers disagree on
/// r, alpha or dropout (adapter_config.json cannot express that).
inline Config config_of(Module& model) {
  const auto layers = wrapped_layers(model);
  MOLM_CHECK(!layers.empty(), "lora", "the model has no LoRA adapter (call lora::wrap first)");
  const Adapter& first = *adapter_of(*layers.front().second);
  Config c{first.r(), first.alpha(), first.dropout()->p(), {}, first.dtype()};
  std::set<std::string> seen;
  for (auto& [name, lin] : layers) {
    const Adapter& a = *adapter_of(*lin);
    MOLM_CHECK(a.r() == c.r && a.alpha() == c.alpha && a.dropout()->p() == c.dropout, "lora",
               "layer '{}' has r {} alpha {} dropout {}, but '{}' has r {} alpha {} dropout {}; one "
               "adapter_config.json cannot describe both",
               name, a.r(), a.alpha(), a.dropout()->p(), layers.front().first, c.r, c.alpha, c.dropout);
    for (const auto& t : a.target_modules())
      if (seen.insert(t).second) c.target_modules.push_back(t);
  }
  return c;
}

/// Fold every adapter into its layer's weight (W += scaling·B·A); forward then skips the adapters.
/// Layers already merged are left alone. Returns how many were merged; throws if there is no adapter.
inline std::size_t merge(Module& model) {
  const auto layers = wrapped_layers(model);
  MOLM_CHECK(!layers.empty(), "lora", "merge: the model has no LoRA adapter");
  std::size_t n = 0;
  for (auto& [name, lin] : layers) n += adapter_of(*lin)->merge_into(*lin);
  return n;
}

/// Undo merge(): W −= scaling·B·A on every merged layer (exact up to rounding). Returns how many.
inline std::size_t unmerge(Module& model) {
  const auto layers = wrapped_layers(model);
  MOLM_CHECK(!layers.empty(), "lora", "unmerge: the model has no LoRA adapter");
  std::size_t n = 0;
  for (auto& [name, lin] : layers) n += adapter_of(*lin)->unmerge_from(*lin);
  return n;
}

/// The adapter weights under the names PEFT's adapter file uses ("base_model.model.<path>.lora_A.weight"),
/// in module order, A before B. The tensors are detached views of the model's (clone to keep a snapshot).
inline StateDict adapter_state_dict(Module& model) {
  StateDict sd;
  for (auto& [name, lin] : wrapped_layers(model)) {
    const Adapter& a = *adapter_of(*lin);
    sd.insert(kPeftPrefix + name + ".lora_A.weight", a.lora_A()->weight.detach());
    sd.insert(kPeftPrefix + name + ".lora_B.weight", a.lora_B()->weight.detach());
  }
  MOLM_CHECK(!sd.empty(), "lora", "the model has no LoRA adapter (call lora::wrap first)");
  return sd;
}

}  // namespace molm::nn::lora

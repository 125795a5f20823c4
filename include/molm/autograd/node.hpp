// The autograd graph: nodes, edges, saved tensors, and `record`, which every differentiable op
// calls after its forward to attach its backward function (vjp) to its outputs.
//
// A node maps the gradients of its outputs to the gradients of its inputs. Its edges point at the
// nodes that produced those inputs, or at an AccumulateGrad node for a leaf that requires grad.
// Saved tensors keep the storage version they were saved at; unpacking one after an in-place write
// throws an error naming the op.
#pragma once

#include "molm/autograd/grad_mode.hpp"
#include "molm/tensor/tensor.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace molm::autograd {

class Node;

struct Edge {
  std::shared_ptr<Node> fn;
  std::uint32_t input_nr = 0;  // which output of `fn` (= which gradient slot) this edge feeds
};

/// Shape and dtype of a tensor a node produced or consumed, kept to validate and materialise grads.
struct TensorMeta {
  Shape shape;
  DType dtype = DType::f32;
};

class Node {
 public:
  explicit Node(std::string name) : name_(std::move(name)) {}
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// Frees a long chain of nodes iteratively: a graph thousands of nodes deep must not overflow the
  /// stack through recursive shared_ptr destruction.
  virtual ~Node() {
    std::vector<std::shared_ptr<Node>> stack;
    auto steal = [&stack](std::vector<Edge>& edges) {
      for (auto& e : edges)
        if (e.fn) stack.push_back(std::move(e.fn));
      edges.clear();
    };
    steal(next_);
    while (!stack.empty()) {
      std::shared_ptr<Node> n = std::move(stack.back());
      stack.pop_back();
      if (n.use_count() == 1) {
        steal(n->next_);
        n->release_saved();  // saved tensors may hold further graphs only through detached copies
      }
    }
  }

  /// Gradients of the inputs (one per edge, undefined = no gradient) from those of the outputs
  /// (one per output; the engine materialises zeros for outputs that received none).
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& grad_outputs) = 0;
  /// Drop saved tensors once backward has run (unless the graph is retained).
  virtual void release_saved() {}
  /// True once release_saved() has run: a second backward through this node would fail.
  virtual bool saved_released() const { return false; }

  const std::string& name() const { return name_; }
  std::vector<Edge>& next_edges() { return next_; }
  const std::vector<Edge>& next_edges() const { return next_; }
  std::vector<TensorMeta>& input_meta() { return inputs_; }
  std::vector<TensorMeta>& output_meta() { return outputs_; }

 private:
  std::string name_;
  std::vector<Edge> next_;
  std::vector<TensorMeta> inputs_;
  std::vector<TensorMeta> outputs_;
};

/// The sink for a leaf: adds the incoming gradient into leaf.grad().
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : Node("accumulate_grad"), leaf_(std::move(leaf)) {}
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;  // autograd/engine.hpp
  const std::shared_ptr<TensorImpl>& leaf() const { return leaf_; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

/// A tensor kept for backward. It stores a history-free alias (so an op saving its own output makes
/// no reference cycle) and the storage version at save time.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, const char* op) : op_(op) {
    if (!t.defined()) return;
    tensor_ = molm::detail::alias(t, t.shape(), t.strides(), t.offset());
    version_ = t.version();
  }
  /// The saved tensor; throws if it was modified in place since it was saved.
  const Tensor& get() const {
    if (tensor_.defined() && tensor_.version() != version_)
      MOLM_THROW("autograd",
                 "a tensor of shape {} saved by '{}' for backward was modified in place afterwards (version {}, "
                 "saved at {}); clone() it before the in-place write",
                 tensor_.shape().str(), op_, tensor_.version(), version_);
    return tensor_;
  }
  bool defined() const { return tensor_.defined(); }

 private:
  Tensor tensor_;
  std::uint64_t version_ = 0;
  const char* op_ = "";
};

/// A node whose backward is a callable: std::vector<Tensor>(const std::vector<Tensor>& grad_outputs).
template <class F> class FunctionNode final : public Node {
 public:
  FunctionNode(std::string name, F fn) : Node(std::move(name)), fn_(std::move(fn)) {}
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    MOLM_CHECK(fn_.has_value(), "autograd",
               "backward through '{}' a second time: its saved tensors were freed after the first backward; "
               "pass retain_graph=true to the first call",
               name());
    return (*fn_)(grads);
  }
  void release_saved() override { fn_.reset(); }
  bool saved_released() const override { return !fn_.has_value(); }

 private:
  std::optional<F> fn_;
};

/// True when grad mode is on and any of `inputs` requires grad: only then is a node recorded.
inline bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}
inline bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

/// The edge through which a gradient for `t` flows back.
inline Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  if (t.grad_fn()) return {t.grad_fn(), t.impl()->output_nr};
  return {std::make_shared<AccumulateGrad>(t.impl_ptr()), 0};
}

/// Attach `backward` to `outputs` as the node that produced them from `inputs`.
/// `backward(grad_outputs)` returns one gradient per input (undefined where none is needed).
template <class F>
void record(std::string name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs, F backward) {
  auto node = std::make_shared<FunctionNode<F>>(std::move(name), std::move(backward));
  for (const Tensor& in : inputs) {
    node->next_edges().push_back(gradient_edge(in));
    node->input_meta().push_back(in.defined() ? TensorMeta{in.shape(), in.dtype()} : TensorMeta{});
  }
  std::uint32_t nr = 0;
  for (const Tensor& out : outputs) {
    node->output_meta().push_back({out.shape(), out.dtype()});
    TensorImpl* impl = out.impl();
    impl->grad_fn = node;
    impl->output_nr = nr++;
    impl->requires_grad = true;
  }
}

}  // namespace molm::autograd

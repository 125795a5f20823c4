// The backward engine and Tensor's autograd members.
//
// backward() runs in two iterative passes (no recursion, so graphs of any depth are fine):
//   1. walk the graph from the root and count, per node, how many edges lead into it;
//   2. Kahn's algorithm: a node runs once all its consumers have delivered their gradients, which are
//      summed per output slot; its results flow along its edges; AccumulateGrad adds into leaf.grad.
// Backward functions run under no_grad. Saved tensors are freed afterwards unless retain_graph.
#pragma once

#include "molm/autograd/node.hpp"
#include "molm/backend/kernels.hpp"

#include <deque>
#include <unordered_map>

namespace molm {
namespace autograd::detail {

/// a + b for same-shape, same-dtype floating tensors, into a new contiguous tensor.
inline Tensor add_same_shape(const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  backend::call<backend::Binary>(a.device(), a.dtype(), backend::BinaryOp::add, a, b, out);
  return out;
}

/// A contiguous copy (strides may be anything, including 0 from expand).
inline Tensor dense_copy(const Tensor& t) {
  Tensor out = Tensor::empty(t.shape(), t.dtype(), t.device());
  backend::call<backend::Copy>(t.device(), t.dtype(), t, out);
  return out;
}

inline void check_grad(const Tensor& g, const TensorMeta& meta, const std::string& node, std::size_t slot,
                       const char* what) {
  MOLM_CHECK(g.shape() == meta.shape, "autograd", "backward of '{}' produced a gradient of shape {} for {} {} of shape {}",
             node, g.shape().str(), what, slot, meta.shape.str());
  MOLM_CHECK(g.dtype() == meta.dtype, "autograd", "backward of '{}' produced a {} gradient for {} {} of dtype {}", node,
             name(g.dtype()), what, slot, name(meta.dtype));
}

inline Tensor zeros_like_meta(const TensorMeta& m) {
  Tensor z = Tensor::empty(m.shape, m.dtype);
  backend::call<backend::Fill>(z.device(), z.dtype(), z, 0.0);
  return z;
}

inline void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& root_grads, bool retain_graph) {
  no_grad guard;
  std::unordered_map<Node*, std::vector<Tensor>> buffers;  // gradient slots per node
  std::unordered_map<Node*, int> pending;                   // edges not yet delivered
  std::vector<std::shared_ptr<Node>> start;

  auto deliver = [&](const Edge& e, Tensor g) {
    auto& slots = buffers[e.fn.get()];
    if (slots.empty()) slots.resize(std::max<std::size_t>(1, e.fn->output_meta().size()));
    Tensor& slot = slots[e.input_nr];
    slot = slot.defined() ? add_same_shape(slot, g) : std::move(g);
  };

  for (std::size_t r = 0; r < roots.size(); ++r) {
    const Tensor& root = roots[r];
    MOLM_CHECK(root.requires_grad(), "backward",
               "the tensor of shape {} does not require grad and has no grad_fn (was it computed under no_grad, "
               "or from tensors without requires_grad?)",
               root.shape().str());
    Tensor g = root_grads[r];
    if (!g.defined()) {
      MOLM_CHECK(root.numel() == 1, "backward",
                 "grad can be created implicitly only for a one-element output; this output has shape {}: pass a "
                 "gradient of that shape",
                 root.shape().str());
      g = Tensor::empty(root.shape(), root.dtype());
      backend::call<backend::Fill>(g.device(), g.dtype(), g, 1.0);
    }
    MOLM_CHECK(g.shape() == root.shape() && g.dtype() == root.dtype(), "backward",
               "the gradient has shape {} ({}) but the output has shape {} ({})", g.shape().str(), name(g.dtype()),
               root.shape().str(), name(root.dtype()));
    Edge e = gradient_edge(root);
    deliver(e, std::move(g));
    start.push_back(e.fn);
  }

  // Pass 1: count incoming edges of every reachable node.
  {
    std::vector<Node*> stack;
    std::unordered_map<Node*, bool> seen;
    for (auto& s : start)
      if (!seen[s.get()]) {
        seen[s.get()] = true;
        stack.push_back(s.get());
      }
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      for (const Edge& e : n->next_edges()) {
        if (!e.fn) continue;
        ++pending[e.fn.get()];
        if (!seen[e.fn.get()]) {
          seen[e.fn.get()] = true;
          stack.push_back(e.fn.get());
        }
      }
    }
  }

  // Pass 2: run nodes whose gradients are complete.
  std::deque<std::shared_ptr<Node>> ready;
  {
    std::unordered_map<Node*, bool> queued;
    for (auto& s : start)
      if (pending[s.get()] == 0 && !queued[s.get()]) {
        queued[s.get()] = true;
        ready.push_back(s);
      }
  }
  while (!ready.empty()) {
    std::shared_ptr<Node> node = std::move(ready.front());
    ready.pop_front();
    std::vector<Tensor> grads = std::move(buffers[node.get()]);
    buffers.erase(node.get());
    auto& outs = node->output_meta();
    grads.resize(std::max<std::size_t>(grads.size(), outs.size()));
    for (std::size_t i = 0; i < outs.size(); ++i) {
      if (!grads[i].defined()) grads[i] = zeros_like_meta(outs[i]);
      else check_grad(grads[i], outs[i], node->name(), i, "output");
    }
    std::vector<Tensor> in_grads = node->apply(std::move(grads));
    if (!retain_graph) node->release_saved();
    auto& edges = node->next_edges();
    MOLM_CHECK(in_grads.size() == edges.size() || dynamic_cast<AccumulateGrad*>(node.get()), "autograd",
               "backward of '{}' returned {} gradients for {} inputs", node->name(), in_grads.size(), edges.size());
    for (std::size_t i = 0; i < edges.size(); ++i) {
      const Edge& e = edges[i];
      if (!e.fn) continue;
      if (in_grads[i].defined()) {
        check_grad(in_grads[i], node->input_meta()[i], node->name(), i, "input");
        deliver(e, std::move(in_grads[i]));
      }
      if (--pending[e.fn.get()] == 0) ready.push_back(e.fn);
    }
  }
}

}  // namespace autograd::detail

inline std::vector<Tensor> autograd::AccumulateGrad::apply(std::vector<Tensor>&& grads) {
  Tensor g = std::move(grads.at(0));
  Tensor& acc = leaf_->grad;
  if (!acc.defined()) {
    // Take ownership only of a dense tensor nobody else references; otherwise copy, so that an
    // in-place update of one parameter's grad never shows through another's.
    const bool exclusive = g.is_contiguous() && g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1 &&
                           g.offset() == 0;
    acc = exclusive ? g.detach() : detail::dense_copy(g);
  } else {
    acc = detail::add_same_shape(acc, g);
  }
  return {};
}

inline bool Tensor::requires_grad() const { return detail::checked(impl_).requires_grad; }

inline Tensor& Tensor::set_requires_grad(bool on) {
  MOLM_CHECK(!on || is_floating(dtype()), "requires_grad", "only floating-point tensors can require grad, got {}",
             name(dtype()));
  MOLM_CHECK(is_leaf(), "requires_grad",
             "can only be set on a leaf tensor; this one was produced by '{}' (use detach() first)",
             impl_->grad_fn->name());
  impl_->requires_grad = on;
  return *this;
}

inline bool Tensor::is_leaf() const { return !detail::checked(impl_).grad_fn; }
inline Tensor Tensor::grad() const { return detail::checked(impl_).grad; }
inline void Tensor::set_grad(const Tensor& g) const {
  if (g.defined())
    MOLM_CHECK(g.shape() == shape() && g.dtype() == dtype(), "set_grad", "gradient {} {} for a tensor {} {}",
               name(g.dtype()), g.shape().str(), name(dtype()), shape().str());
  impl_->grad = g;
}
inline void Tensor::zero_grad() const { detail::checked(impl_); impl_->grad = Tensor(); }
inline const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const { return detail::checked(impl_).grad_fn; }

inline void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  autograd::detail::run_backward({*this}, {grad}, retain_graph);
}

/// Reverse-mode differentiation from several outputs at once (their gradients are summed).
inline void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grads = {},
                     bool retain_graph = false) {
  std::vector<Tensor> g = grads;
  g.resize(outputs.size());
  autograd::detail::run_backward(outputs, g, retain_graph);
}

inline Tensor Tensor::detach() const {
  const auto& t = detail::checked(impl_);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage;
  impl->shape = t.shape;
  impl->strides = t.strides;
  impl->offset = t.offset;
  impl->dtype = t.dtype;
  return Tensor(std::move(impl));
}

}  // namespace molm

// The tensor core in one include: Tensor, its views and copies, autograd, printing, and the backend
// interface its copies run on (backend/registry.hpp, backend/kernels.hpp). No op: <molm/ops.hpp>.
#pragma once

#include "molm/autograd/engine.hpp"
#include "molm/autograd/grad_mode.hpp"
#include "molm/backend/kernels.hpp"
#include "molm/tensor/print.hpp"
#include "molm/tensor/tensor.hpp"
#include "molm/tensor/views.hpp"

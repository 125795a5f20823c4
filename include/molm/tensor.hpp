// The tensor core in one include: Tensor, views, autograd, printing.
#pragma once

#include "molm/autograd/engine.hpp"
#include "molm/autograd/grad_mode.hpp"
#include "molm/ops/binary.hpp"
#include "molm/ops/factory.hpp"
#include "molm/ops/reduce.hpp"
#include "molm/ops/view.hpp"
#include "molm/tensor/print.hpp"
#include "molm/tensor/tensor.hpp"

// Every op in one include.
#pragma once

#include "molm/tensor.hpp"
#include "molm/ops/factory.hpp"
#include "molm/ops/view.hpp"
#include "molm/ops/binary.hpp"
#include "molm/ops/reduce.hpp"
#include "molm/ops/unary.hpp"

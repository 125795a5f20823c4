// Every op in one include.
#pragma once

#include "molm/tensor.hpp"
#include "molm/ops/unary.hpp"

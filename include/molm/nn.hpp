// Every nn layer in one include: Module and the basic layers (names match PyTorch/HF checkpoints).
#pragma once

#include "molm/nn/state_dict.hpp"
#include "molm/nn/module.hpp"
#include "molm/nn/linear.hpp"
#include "molm/nn/embedding.hpp"
#include "molm/nn/layer_norm.hpp"
#include "molm/nn/rms_norm.hpp"
#include "molm/nn/dropout.hpp"
#include "molm/nn/mlp.hpp"
#include "molm/nn/swiglu.hpp"
#include "molm/nn/module_list.hpp"
#include "molm/nn/attention.hpp"
#include "molm/nn/lora.hpp"

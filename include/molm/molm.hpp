// molm: a header-only toolkit that lets language models read 3D molecules. Include this for everything.
#pragma once

#include "molm/version.hpp"
#include "molm/backend/cpu/register.hpp"  // the CPU backends (compiled once by molm::compiled in MOLM_COMPILED mode)
#include "molm/ops.hpp"
#include "molm/optim.hpp"
#include "molm/nn.hpp"
#include "molm/io/npy.hpp"
#include "molm/io/safetensors.hpp"
#include "molm/io/torch_checkpoint.hpp"
#include "molm/io/llama2c.hpp"
#include "molm/io/checkpoint_dir.hpp"
#include "molm/io/lora_file.hpp"  // LoRA adapter folders (nn/lora.hpp on disk)
#include "molm/chem/featurize.hpp"  // RDKit-free; the RDKit bridge is molm::chem (chem/*.hpp)
#include "molm/data/collate_unimol.hpp"
#include "molm/data/conformer_cache.hpp"

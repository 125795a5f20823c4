// molm: a header-only toolkit that lets language models read 3D molecules. Include this for what an
// embedding tool needs: tensors, ops, nn, optimisers, safetensors checkpoints, Uni-Mol features.
// Heavier, rarely needed readers have their own headers and are not included here:
//   <molm/io/torch_checkpoint.hpp>   PyTorch .pt/.bin/.ckpt (zip + restricted unpickler)
//   <molm/io/npy.hpp>                .npy through xtensor
//   <molm/io/llama2c.hpp>            llama2.c checkpoints
//   <molm/io/lora_file.hpp>          LoRA adapter folders
//   <molm/data/conformer_cache.hpp>  the LMDB conformer cache
#pragma once

#include "molm/version.hpp"
#include "molm/backend/cpu/register.hpp"  // the CPU backends (compiled once by molm::compiled in MOLM_COMPILED mode)
#include "molm/ops.hpp"
#include "molm/optim.hpp"
#include "molm/nn.hpp"
#include "molm/io/safetensors.hpp"
#include "molm/io/checkpoint_dir.hpp"
#include "molm/chem/featurize.hpp"  // RDKit-free; the RDKit bridge is molm::chem (chem/*.hpp)
#include "molm/data/collate_unimol.hpp"

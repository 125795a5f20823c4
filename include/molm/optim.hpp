// Optimizers, gradient clipping and learning-rate schedules in one include.
#pragma once

#include "molm/optim/accumulate.hpp"
#include "molm/optim/adamw.hpp"
#include "molm/optim/clip.hpp"
#include "molm/optim/optimizer.hpp"
#include "molm/optim/schedule.hpp"
#include "molm/optim/sgd.hpp"

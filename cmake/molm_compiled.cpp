// The one translation unit of molm::compiled (MOLM_COMPILED=ON): the CPU and reference kernels are
// instantiated and registered here, once, instead of in every file that includes <molm/molm.hpp>.
#include "molm/backend/cpu/register.hpp"

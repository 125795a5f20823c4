// Molecules the chem suites share, written out so a test reads what it feeds in.
#pragma once

#include <string>

namespace molm::testing {

/// Ethanol's three heavy atoms with fixed 3D coordinates (Å), as an RDKit mol block ending at "M  END".
inline const std::string kEthanol3D = R"(ethanol
     RDKit          3D

  3  2  0  0  0  0  0  0  0  0999 V2000
   -0.9300    0.0500    0.0400 C   0  0  0  0  0  0  0  0  0  0  0  0
    0.5200   -0.3900   -0.1000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.3200    0.7600    0.0200 O   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
  2  3  1  0
M  END
)";

}  // namespace molm::testing

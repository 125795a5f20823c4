// A test backend, defined in its own translation unit (counting_backend_test.cpp), that no op header
// knows: it counts each kernel call and forwards it to the cpu backend. dispatch_test.cpp routes ops
// to it with backend::BackendGuard and checks that they arrive.
#pragma once

#include <molm/backend/registry.hpp>

#include <map>
#include <string>

namespace molm::testing {

/// Calls per kernel name since the last reset.
std::map<std::string, int>& counting_calls();
/// The backend's slot ("counting", CPU memory).
backend::BackendId counting_backend();

}  // namespace molm::testing

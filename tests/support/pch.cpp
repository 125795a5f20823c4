// Empty: the target that owns the precompiled support/testing.hpp every suite reuses (tests/CMakeLists.txt).

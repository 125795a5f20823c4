# Warnings for molm's own targets (tests, CLI, benchmarks); never forced on consumers.
add_library(molm_warnings INTERFACE)
target_compile_options(molm_warnings INTERFACE -Wall -Wextra -Wno-unused-parameter)

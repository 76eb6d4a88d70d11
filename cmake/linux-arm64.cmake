# Cross-compiling the linux-arm64 prebuild on an x86-64 Debian/Ubuntu (scripts/prebuilds.sh):
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install -y g++-aarch64-linux-gnu libopenblas-dev:arm64
# Debian's multiarch layout puts the arm64 OpenBLAS (static libopenblas.a included) under
# /usr/lib/aarch64-linux-gnu and its cblas.h under /usr/include/aarch64-linux-gnu, which the
# cross compiler and CMake's library search (CMAKE_LIBRARY_ARCHITECTURE) both look into.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# look for libraries and headers for the target only, programs on the host
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)

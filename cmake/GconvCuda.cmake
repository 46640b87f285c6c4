# Optional CUDA build (-DGCONV_CUDA=ON): our own kernels in src/cuda (no
# cuBLAS/cuDNN) as the static library gconv_cuda and, for Python, the
# extension gconv._cuda_core. Included only when GCONV_CUDA is ON, so a CPU
# build never looks for a CUDA toolkit.

if(NOT CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 80 90)
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
message(STATUS "gconv CUDA: nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES}")

add_library(gconv_cuda STATIC
  src/cuda/conv2d.cu
  src/cuda/direct.cu
  src/cuda/depthwise.cu
  src/cuda/global.cu
  src/cuda/grouped_narrow.cu
  src/cuda/implicit_gemm.cu
)
set_target_properties(gconv_cuda PROPERTIES
  CUDA_STANDARD 17
  CUDA_STANDARD_REQUIRED ON
  POSITION_INDEPENDENT_CODE ON
  CUDA_VISIBILITY_PRESET hidden)
target_include_directories(gconv_cuda
  PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/src/cuda ${CMAKE_CURRENT_SOURCE_DIR}/src/include
  PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
target_compile_definitions(gconv_cuda PRIVATE GCONV_BUILDING)
# The runtime is linked statically, so the wheel needs only the driver.
if(TARGET CUDA::cudart_static)
  set(GCONV_CUDART CUDA::cudart_static)
else()
  set(GCONV_CUDART CUDA::cudart)
endif()
target_link_libraries(gconv_cuda PUBLIC gconv_static ${GCONV_CUDART})

if(GCONV_BUILD_PYTHON)
  cython_transpile(python/gconv/_cuda_core.pyx LANGUAGE CXX OUTPUT_VARIABLE GCONV_CUDA_CORE_CPP)
  python_add_library(_cuda_core MODULE "${GCONV_CUDA_CORE_CPP}" WITH_SOABI)
  target_link_libraries(_cuda_core PRIVATE gconv_cuda gconv_static ${GCONV_CUDART})
  install(TARGETS _cuda_core LIBRARY DESTINATION gconv)
endif()
